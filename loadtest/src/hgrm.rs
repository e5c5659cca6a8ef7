//! `--hgrm FILE`: the latency histogram in HdrHistogram's percentile-distribution text format,
//! the `.hgrm` files that wrk2 prints and the HdrHistogram plotter reads.
//!
//! Job: same layout as Java's `outputPercentileDistribution(out, 5, 1000.0)`: values in
//! milliseconds (recorded in µs, scaled by 1000) with 3 decimals, 5 ticks per half distance, the
//! final 100% line without the `1/(1-Percentile)` column, and the `#[Mean …]`, `#[Max …]`,
//! `#[Buckets …]` footer.
//!
//! What it does not do: write the file (the caller does) or read .hgrm files.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Ticks per half distance to 100%, as wrk2 and the Java default use.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// µs per output unit (ms).
const SCALE: f64 = 1000.0;

/// The percentile distribution of `h` (µs) in milliseconds.
pub fn render(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total: u64 = 0;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / SCALE,
        h.stdev() / SCALE
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / SCALE,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

/// Sub-buckets per bucket for `sigfig` significant digits: 2·10^sigfig rounded up to a power of 2.
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats;

    #[test]
    fn layout_and_values() {
        let mut h = stats::histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap(); // 1 ms .. 1000 ms
        }
        let text = render(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        // The median line: value 500 ms, half the samples, 1/(1-0.5) = 2.
        assert!(
            lines.contains(&"     500.223 0.500000000000        500           2.00"),
            "{text}"
        );
        let last = lines.iter().rfind(|l| !l.starts_with('#')).unwrap();
        assert_eq!(*last, "    1000.447 1.000000000000       1000");
        let n = lines.len();
        assert_eq!(
            lines[n - 3],
            "#[Mean    =      500.505, StdDeviation   =      288.676]"
        );
        assert_eq!(
            lines[n - 2],
            "#[Max     =     1000.447, Total count    =         1000]"
        );
        assert_eq!(
            lines[n - 1],
            "#[Buckets =           22, SubBuckets     =         2048]"
        );
    }

    #[test]
    fn empty_histogram_has_header_and_footer_only() {
        let text = render(&stats::histogram());
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains("Total count    =            0]"));
    }

    #[test]
    fn sub_bucket_counts() {
        assert_eq!(sub_buckets(3), 2048);
        assert_eq!(sub_buckets(2), 256);
        assert_eq!(sub_buckets(1), 32);
    }
}
