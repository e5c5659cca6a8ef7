//! `--plot FILE.svg`: latency by percentile, the chart HdrHistogram's plotter draws, as a small
//! hand-written SVG (no plotting dependency).
//!
//! Job: x axis is `1/(1-p)` on a log scale, labelled 0%, 90%, 99%, 99.9%, … so the tail gets as
//! much room as the body; y axis is latency in ms, linear from 0. The curve joins the points of
//! the same percentile iteration as the .hgrm output (5 ticks per half distance), and ends with
//! the maximum drawn at the right edge.
//!
//! What it does not do: several series, or interactivity. Text is escaped; the file is valid
//! standalone SVG 1.1.

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::hgrm::TICKS_PER_HALF_DISTANCE;

const W: f64 = 800.0;
const H: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Decades on the x axis: at least up to 99.9%, at most 99.9999%.
const MIN_DECADES: f64 = 3.0;
const MAX_DECADES: f64 = 6.0;

/// The chart for `h` (µs), titled `title`.
pub fn render(h: &Histogram<u64>, title: &str) -> String {
    let points = curve(h);
    let decades = points
        .iter()
        .map(|(x, _)| x.ceil())
        .fold(MIN_DECADES, f64::max)
        .min(MAX_DECADES);
    let y_max = nice_ceiling(h.max() as f64 / 1000.0);
    let px = |x: f64| LEFT + (x.min(decades) / decades) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y / y_max) * (H - TOP - BOTTOM);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    for d in 0..=(decades as u32) {
        let x = px(f64::from(d));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0,
            percent_label(d)
        );
    }
    let step = y_max / 5.0;
    for i in 0..=5 {
        let v = step * f64::from(i);
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim_number(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        W / 2.0,
        H - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">latency (ms)</text>"#,
        H / 2.0,
        H / 2.0
    );
    if points.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">no samples</text>"#,
            W / 2.0,
            H / 2.0
        );
    } else {
        let mut path = String::new();
        for (x, y) in &points {
            let _ = write!(path, "{:.1},{:.1} ", px(*x), py(*y));
        }
        let _ = writeln!(
            s,
            r##"<polyline fill="none" stroke="#1f6fb4" stroke-width="2" points="{}"/>"##,
            path.trim_end()
        );
    }
    s.push_str("</svg>\n");
    s
}

/// (log10(1/(1-q)), ms) for each iteration step below 100%, then the maximum at the right edge.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut pts: Vec<(f64, f64)> = h
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .filter(|v| v.quantile_iterated_to() < 1.0)
        .map(|v| {
            let x = (1.0 / (1.0 - v.quantile_iterated_to())).log10();
            (x.min(MAX_DECADES), v.value_iterated_to() as f64 / 1000.0)
        })
        .collect();
    let right = pts
        .iter()
        .map(|p| p.0.ceil())
        .fold(MIN_DECADES, f64::max)
        .min(MAX_DECADES);
    pts.push((right, h.max() as f64 / 1000.0));
    pts
}

/// The label of `1 - 10^-decade` as a percentage: 0%, 90%, 99%, 99.9%, ...
fn percent_label(decade: u32) -> String {
    match decade {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)),
    }
}

/// The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ `v` (and > 0).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats;

    #[test]
    fn labels() {
        let l: Vec<String> = (0..=6).map(percent_label).collect();
        assert_eq!(
            l,
            ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        );
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.7), 0.8);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1.2), 1.2);
        assert_eq!(nice_ceiling(1.3), 1.5);
        assert_eq!(nice_ceiling(2.2), 2.5);
        assert_eq!(nice_ceiling(37.0), 40.0);
        assert_eq!(nice_ceiling(1014.0), 1200.0);
        assert_eq!(nice_ceiling(81.0), 100.0);
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(10.0), "10");
    }

    #[test]
    fn curve_rises_to_the_maximum_at_the_right_edge() {
        let mut h = stats::histogram();
        for v in 1..=10_000u64 {
            h.record(v * 10).unwrap(); // 10 µs .. 100 ms
        }
        let c = curve(&h);
        assert_eq!(c[0], (0.0, 0.01));
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let last = *c.last().unwrap();
        assert_eq!(last, (4.0, h.max() as f64 / 1000.0));
    }

    #[test]
    fn svg_is_well_formed_and_escaped() {
        let mut h = stats::histogram();
        h.record(1500).unwrap();
        h.record(2500).unwrap();
        let svg = render(&h, "a <b> & \"c\"");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains(">99.9%</text>"));
        let empty = render(&stats::histogram(), "t");
        assert!(empty.contains("no samples"));
        assert_eq!(empty.matches("<polyline").count(), 0);
    }
}
