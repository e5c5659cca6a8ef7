//! Per-connection HTTP/2 abuse limits the h2 crate does not enforce by rate: RST_STREAM frames
//! (rapid reset, CVE-2023-44487) and control frames (PING, SETTINGS, PRIORITY, empty DATA,
//! empty HEADERS/CONTINUATION without END_HEADERS, unknown frame types) per second. Sans-IO.
//!
//! [`FrameMeter`] reads the client's byte stream as it arrives (after TLS, before the h2 crate)
//! and looks only at the 9-byte frame headers: it skips the 24-byte connection preface, then
//! walks header → payload → header by the length field, whatever the split of the input.
//! Each counted frame lands in a one-second fixed window; the first window to pass its cap
//! trips the meter, and it stays tripped: the driver then ends the connection with GOAWAY
//! ENHANCE_YOUR_CALM.
//!
//! What it does not do: validate frames (the h2 crate does, and answers PROTOCOL_ERROR /
//! FRAME_SIZE_ERROR), decode anything, or read the clock (`now` is passed in). The limits the
//! h2 crate enforces itself (header list size, CONTINUATION count, streams reset before being
//! accepted, locally reset streams, empty DATA frames over the connection's life) are set from
//! the configuration by the driver, not here.
//!
//! Invariants: O(1) memory; never panics on any input; `observe` over any split of the same
//! bytes at the same `now` reaches the same verdict.
use std::time::{Duration, Instant};

/// The client connection preface (RFC 9113 §3.4), skipped before the first frame header.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;

/// Which limit a client passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// More RST_STREAM frames in one second than `max_resets_per_second`.
    Resets,
    /// More control frames in one second than `max_control_frames_per_second`.
    ControlFrames,
}

/// The caps, per connection and per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub resets_per_second: u32,
    pub control_frames_per_second: u32,
}

/// A count in a one-second fixed window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Option<Instant>,
    count: u32,
}

impl Window {
    const LEN: Duration = Duration::from_secs(1);

    /// Counts one event at `now`; true when the window now holds more than `cap`.
    fn hit(&mut self, now: Instant, cap: u32) -> bool {
        match self.start {
            Some(s) if now.saturating_duration_since(s) < Self::LEN => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        self.count = self.count.saturating_add(1);
        self.count > cap
    }
}

/// Where the meter is in the byte stream.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Inside the connection preface; bytes of it still to come.
    Preface { left: usize },
    /// Inside a frame header; `have` bytes of it collected in `buf`.
    Header {
        buf: [u8; FRAME_HEADER_LEN],
        have: usize,
    },
    /// Inside a frame payload; bytes of it still to come.
    Payload { left: usize },
}

/// Counts the client's frames by kind and trips when a rate cap is passed.
#[derive(Debug, Clone)]
pub struct FrameMeter {
    limits: RateLimits,
    at: Position,
    resets: Window,
    control: Window,
    tripped: Option<Trip>,
}

impl FrameMeter {
    pub fn new(limits: RateLimits) -> Self {
        FrameMeter {
            limits,
            at: Position::Preface { left: PREFACE_LEN },
            resets: Window {
                start: None,
                count: 0,
            },
            control: Window {
                start: None,
                count: 0,
            },
            tripped: None,
        }
    }

    /// The limit passed, if any (sticky).
    pub fn tripped(&self) -> Option<Trip> {
        self.tripped
    }

    /// Feeds bytes received from the client at `now`; returns the limit passed, if any.
    pub fn observe(&mut self, mut input: &[u8], now: Instant) -> Option<Trip> {
        while !input.is_empty() && self.tripped.is_none() {
            match &mut self.at {
                Position::Preface { left } | Position::Payload { left } => {
                    let take = (*left).min(input.len());
                    *left -= take;
                    input = &input[take..];
                    if *left == 0 {
                        self.at = Position::Header {
                            buf: [0; FRAME_HEADER_LEN],
                            have: 0,
                        };
                    }
                }
                Position::Header { buf, have } => {
                    let take = (FRAME_HEADER_LEN - *have).min(input.len());
                    buf[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    input = &input[take..];
                    if *have == FRAME_HEADER_LEN {
                        let header = *buf;
                        self.frame(&header, now);
                    }
                }
            }
        }
        self.tripped
    }

    /// One complete frame header: count it, then skip its payload.
    fn frame(&mut self, h: &[u8; FRAME_HEADER_LEN], now: Instant) {
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        self.at = if len == 0 {
            Position::Header {
                buf: [0; FRAME_HEADER_LEN],
                have: 0,
            }
        } else {
            Position::Payload { left: len }
        };
        let control = match kind {
            RST_STREAM => {
                if self.resets.hit(now, self.limits.resets_per_second) {
                    self.tripped = Some(Trip::Resets);
                }
                return;
            }
            PRIORITY | SETTINGS | PING => true,
            DATA => len == 0 && flags & FLAG_END_STREAM == 0,
            HEADERS | CONTINUATION => len == 0 && flags & FLAG_END_HEADERS == 0,
            // GOAWAY, WINDOW_UPDATE, PUSH_PROMISE (refused by h2 anyway).
            0x5 | 0x7 | 0x8 => false,
            // Unknown types are ignored by HTTP/2 (RFC 9113 §4.1), so cost only us.
            _ => true,
        };
        if control && self.control.hit(now, self.limits.control_frames_per_second) {
            self.tripped = Some(Trip::ControlFrames);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn limits(resets: u32, control: u32) -> RateLimits {
        RateLimits {
            resets_per_second: resets,
            control_frames_per_second: control,
        }
    }

    /// Feeds `input` split at `cut` at one instant.
    fn verdict(input: &[u8], cut: usize, l: RateLimits, now: Instant) -> Option<Trip> {
        let mut m = FrameMeter::new(l);
        m.observe(&input[..cut], now);
        m.observe(&input[cut..], now)
    }

    fn stream_of(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut all = PREFACE.to_vec();
        for f in frames {
            all.extend_from_slice(f);
        }
        all
    }

    #[test]
    fn resets_over_the_cap_trip_at_any_split() {
        let now = Instant::now();
        let mut frames = vec![frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])];
        for id in 0..4u32 {
            // A HEADERS payload that looks like a frame header must be skipped whole.
            frames.push(frame(
                HEADERS,
                0x5,
                2 * id + 1,
                &[3, RST_STREAM, 0, 0, 0, 0, 0, 0, 1],
            ));
            frames.push(frame(RST_STREAM, 0, 2 * id + 1, &[0, 0, 0, 8]));
        }
        let all = stream_of(&frames);
        for cut in 0..=all.len() {
            assert_eq!(
                verdict(&all, cut, limits(3, 100), now),
                Some(Trip::Resets),
                "{cut}"
            );
            assert_eq!(verdict(&all, cut, limits(4, 100), now), None, "{cut}");
        }
    }

    #[test]
    fn control_frames_are_counted_and_data_is_not() {
        let now = Instant::now();
        let frames = vec![
            frame(PING, 0, 0, &[0; 8]),
            frame(PING, 1, 0, &[0; 8]),
            frame(SETTINGS, 0, 0, &[]),
            frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 16]),
            frame(DATA, 0, 1, &[]),
            frame(HEADERS, 0, 3, &[]),
            frame(CONTINUATION, 0, 3, &[]),
            frame(0x42, 0, 0, &[1, 2, 3]),
            // Not counted: DATA with payload, empty DATA ending the stream, WINDOW_UPDATE,
            // HEADERS with END_HEADERS, GOAWAY.
            frame(DATA, 0, 1, &[1; 100]),
            frame(DATA, FLAG_END_STREAM, 1, &[]),
            frame(0x8, 0, 0, &[0, 0, 1, 0]),
            frame(HEADERS, FLAG_END_HEADERS, 5, &[0x82]),
            frame(0x7, 0, 0, &[0; 8]),
        ];
        let all = stream_of(&frames);
        for cut in 0..=all.len() {
            assert_eq!(
                verdict(&all, cut, limits(1, 7), now),
                Some(Trip::ControlFrames)
            );
            assert_eq!(verdict(&all, cut, limits(1, 8), now), None);
        }
    }

    #[test]
    fn window_resets_after_a_second_and_trip_sticks() {
        let t0 = Instant::now();
        let mut m = FrameMeter::new(limits(2, 100));
        let rst = frame(RST_STREAM, 0, 1, &[0, 0, 0, 8]);
        assert_eq!(m.observe(PREFACE, t0), None);
        for i in 0..10u64 {
            // Two per second: never more than two in one window.
            let t = t0 + Duration::from_millis(1000 * i);
            assert_eq!(m.observe(&rst, t), None, "{i}");
            assert_eq!(m.observe(&rst, t), None, "{i}");
        }
        // Three within one second: over the cap.
        let t = t0 + Duration::from_secs(30);
        assert_eq!(m.observe(&rst, t), None);
        assert_eq!(m.observe(&rst, t + Duration::from_millis(999)), None);
        assert_eq!(
            m.observe(&rst, t + Duration::from_millis(999)),
            Some(Trip::Resets)
        );
        assert_eq!(m.tripped(), Some(Trip::Resets));
        // Sticky, whatever follows.
        assert_eq!(
            m.observe(b"garbage", t + Duration::from_secs(10)),
            Some(Trip::Resets)
        );
    }

    #[test]
    fn large_payloads_and_arbitrary_bytes_do_not_panic() {
        let now = Instant::now();
        let mut m = FrameMeter::new(limits(5, 5));
        let mut big = stream_of(&[frame(DATA, 0, 1, &vec![0xff; 70_000])]);
        big.extend_from_slice(&[0xff; 300]);
        for piece in big.chunks(977) {
            m.observe(piece, now);
        }
        let mut m = FrameMeter::new(limits(1, 1));
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = m.observe(&junk, now);
    }
}
