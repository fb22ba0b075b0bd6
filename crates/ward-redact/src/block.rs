//! Private keys that arrive one line per event: a per-stream state machine
//! that masks every line of a key block, however the lines were split.
//!
//! A log shipper, `logger`, a text ingest or a Kafka producer turns a PEM,
//! OpenSSH or PGP private key pasted into a log into one event per line;
//! the value scanner sees a `-----BEGIN … PRIVATE KEY-----` line, then lines
//! of base64 it cannot tell from any other. A [`BlockTracker`] is fed the
//! lines of one stream (a TCP connection, a request body, a Kafka partition,
//! one sender's datagrams) in order. On a `BEGIN` line of a private key, or
//! on a line alone that decodes to the start of one (DER, `openssh-key-v1`,
//! an OpenPGP secret-key packet), it enters the block and masks the base64
//! of every following line until the matching `-----END` line, inclusive.
//! The `BEGIN` line itself is left to the value scanner of the redaction
//! stage, which masks it and records the finding; a first body line alone
//! is masked here. Only lines shaped like a key body are masked: full-length
//! lines (60–80 characters), then one shorter last line and a PGP checksum;
//! anything else after the last line ends the block, and short lines before
//! the body (armor headers) stay, so a forged `BEGIN` hides no other words.
//!
//! Bounded: a block that never closes ends after [`BlockLimits`] (1000
//! lines, 256 KiB or 60 s by default), so a lost `END` line cannot mask a
//! stream forever; a tracker holds a few words of state. What is masked in a
//! line is its last value (its trailing base64 run, after closing quotes
//! and brackets): a syslog header or a JSON key before it stays readable,
//! and the line still parses.
//!
//! ```
//! use std::time::Instant;
//! use ward_redact::BlockTracker;
//! let mut t = BlockTracker::default();
//! let now = Instant::now();
//! let lines = [
//!     "<13>1 2026-12-06T02:00:00Z h app - - - -----BEGIN RSA PRIVATE KEY-----",
//!     "<13>1 2026-12-06T02:00:00Z h app - - - MIIEowIBAAKCAQEAtK7mE0oJ6p0m6Tk0Hc2QvNQ2Hy7X3qLw8kXGvTgC9d2vQeJr",
//!     "<13>1 2026-12-06T02:00:00Z h app - - - -----END RSA PRIVATE KEY-----",
//!     "<13>1 2026-12-06T02:00:00Z h app - - - user bob logged in",
//! ];
//! let out: Vec<String> = lines.iter().map(|l| t.redact_line(l, now).into_owned()).collect();
//! assert_eq!(out[0], lines[0], "the header is the value scanner's");
//! assert!(out[1].ends_with(" - [REDACTED:private_key]"));
//! assert!(out[2].ends_with(" - [REDACTED:private_key]"));
//! assert_eq!(out[3], lines[3]);
//! ```

use std::borrow::Cow;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::scan::keybody;

/// What replaces the key material of a line.
pub const KEY_MARKER: &str = "[REDACTED:private_key]";

/// How long a block may stay open without its `END` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Lines masked after the opening one.
    pub max_lines: usize,
    /// Bytes of those lines.
    pub max_bytes: usize,
    /// Time since the opening line.
    pub max_duration: Duration,
}

impl Default for BlockLimits {
    /// 1000 lines (an 8192-bit RSA key in PEM is about 100, a large PGP
    /// secret keyring a few hundred), 256 KiB, 60 s.
    fn default() -> Self {
        BlockLimits {
            max_lines: 1000,
            max_bytes: 256 * 1024,
            max_duration: Duration::from_secs(60),
        }
    }
}

/// An open key block.
#[derive(Debug, Clone, Copy)]
struct Open {
    lines: usize,
    bytes: usize,
    since: Instant,
    /// A full-length body line was seen.
    body: bool,
    /// The short last body line was seen: only a PGP checksum or the `END`
    /// line may follow.
    tail: bool,
}

/// Length range of a full body line: PEM and PGP armor wrap at 64
/// characters, OpenSSH at 70, MIME-style encoders at 76.
const FULL_LINE: std::ops::RangeInclusive<usize> = 60..=80;

/// The key-block state of one stream. Cheap to create and to clone.
#[derive(Debug, Clone, Default)]
pub struct BlockTracker {
    limits: BlockLimits,
    open: Option<Open>,
    /// Blocks entered since creation.
    blocks: u64,
    /// Blocks left because a limit was reached.
    cut: u64,
}

impl BlockTracker {
    /// A tracker with other limits than the defaults.
    pub fn with_limits(limits: BlockLimits) -> BlockTracker {
        BlockTracker {
            limits,
            ..BlockTracker::default()
        }
    }

    /// Whether the stream is inside a key block.
    pub fn in_block(&self) -> bool {
        self.open.is_some()
    }

    /// Key blocks entered so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Key blocks left at a limit rather than at their `END` line.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Feeds the next line (or several, separated by `\n`) of the stream at
    /// time `now`; returns the byte ranges of `text` to mask, in order.
    pub fn feed(&mut self, text: &str, now: Instant) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        for line in text.split('\n') {
            if let Some(r) = self.feed_one(line, now) {
                out.push(at + r.start..at + r.end);
            }
            at += line.len() + 1;
        }
        out
    }

    /// [`BlockTracker::feed`] and the masking: `text` with its key material
    /// replaced by [`KEY_MARKER`], borrowed when nothing changed.
    pub fn redact_line<'a>(&mut self, text: &'a str, now: Instant) -> Cow<'a, str> {
        let ranges = self.feed(text, now);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for r in ranges {
            out.push_str(&text[last..r.start]);
            out.push_str(KEY_MARKER);
            last = r.end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    fn feed_one(&mut self, line: &str, now: Instant) -> Option<Range<usize>> {
        let bytes = line.as_bytes();
        if let Some(open) = &mut self.open {
            if let Some(end) = memchr::memmem::find(bytes, b"-----END") {
                self.open = None;
                let start = end - trailing_run(&bytes[..end]);
                let close = memchr::memmem::find(&bytes[end + 8..], b"-----")
                    .map_or(bytes.len(), |c| end + 8 + c + 5);
                return Some(start..close);
            }
            open.lines += 1;
            open.bytes += line.len();
            let expired = open.lines > self.limits.max_lines
                || open.bytes > self.limits.max_bytes
                || now.saturating_duration_since(open.since) > self.limits.max_duration;
            if expired {
                self.open = None;
                self.cut += 1;
            } else if begin(bytes).is_none() {
                let (s, e) = last_value(bytes);
                let value = &bytes[s..e];
                if value.is_empty() {
                    return None;
                }
                if open.tail {
                    // A PGP armor checksum (`=` and 4 characters) may
                    // follow the last body line; anything else ends a block
                    // whose END line was lost.
                    if value[0] == b'=' && value.len() <= 5 {
                        return Some(s..e);
                    }
                    self.open = None;
                    self.cut += 1;
                } else if FULL_LINE.contains(&value.len()) {
                    open.body = true;
                    return Some(s..e);
                } else if open.body {
                    open.tail = true;
                    return Some(s..e);
                } else {
                    // Before the body: armor headers (`Proc-Type`,
                    // `DEK-Info`, `Version`, `Comment`), not secret. A line
                    // that is neither body nor header is not masked, so a
                    // forged BEGIN line cannot hide the words of the lines
                    // that follow it.
                    return None;
                }
            }
        }
        if let Some(b) = begin(bytes) {
            // A whole key on one line is the value scanner's.
            if memchr::memmem::find(&bytes[b..], b"-----END").is_some() {
                return None;
            }
            // The header itself is left to the value scanner, which masks
            // it and records the key (`ward.redactions`, `ward.leak.*`).
            self.enter(now);
            return None;
        }
        let (s, e) = last_value(bytes);
        if e - s >= 40 && keybody::is_key_start(&bytes[s..s + run_b64(&bytes[s..e])]) {
            self.enter(now);
            if let Some(open) = &mut self.open {
                open.body = true;
                // A whole key body on one short line (ed25519) is its tail.
                open.tail = !FULL_LINE.contains(&(e - s));
            }
            return Some(s..e);
        }
        None
    }

    fn enter(&mut self, now: Instant) {
        self.blocks += 1;
        self.open = Some(Open {
            lines: 0,
            bytes: 0,
            since: now,
            body: false,
            tail: false,
        });
    }
}

/// Where a `-----BEGIN … PRIVATE KEY…-----` header starts in `line`.
fn begin(line: &[u8]) -> Option<usize> {
    let s = memchr::memmem::find(line, b"-----BEGIN ")?;
    let label = &line[s + 11..];
    let close = memchr::memmem::find(&label[..label.len().min(64)], b"-----")?;
    memchr::memmem::find(&label[..close], b"PRIVATE KEY").map(|_| s)
}

/// The span of a line's last value: its trailing run of base64 and `=`
/// after trailing spaces, quotes, brackets and escaped line ends.
fn last_value(line: &[u8]) -> (usize, usize) {
    let mut e = line.len();
    loop {
        if e >= 2 && matches!(&line[e - 2..e], b"\\n" | b"\\r") {
            e -= 2;
        } else if e > 0
            && (line[e - 1].is_ascii_whitespace()
                || matches!(line[e - 1], b'"' | b'\'' | b',' | b'}' | b']' | b'\\'))
        {
            e -= 1;
        } else {
            break;
        }
    }
    let s = e - trailing_run(&line[..e]);
    // The end of a marker (`[REDACTED:private_key]`) is not a value: a line
    // masked once stays as it is when read again.
    if inside_marker(&line[..s]) {
        return (e, e);
    }
    (s, e)
}

/// Whether `before` ends inside an open `[REDACTED:` or `[HASH:` marker.
fn inside_marker(before: &[u8]) -> bool {
    let Some(open) = memchr::memrchr(b'[', before) else {
        return false;
    };
    let tail = &before[open..];
    (tail.starts_with(b"[REDACTED:") || tail.starts_with(b"[HASH:")) && !tail.contains(&b']')
}

/// Length of the run of base64 and `=` ending `b`.
fn trailing_run(b: &[u8]) -> usize {
    b.iter()
        .rev()
        .take_while(|&&c| keybody::b64(c) || c == b'=')
        .count()
}

/// Length of the leading base64 run of `b` (the value without padding).
fn run_b64(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| keybody::b64(c)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "MIIEowIBAAKCAQEAtK7mE0oJ6p0m6Tk0Hc2QvNQ2Hy7X3qLw8kXGvTgC9d2vQeJr";
    const MID: &str = "q83kZ0xWv9Ppl2Yt7Nn4Rr1Ss6Tt3Uu8Vv5Ww2Xx9Yy0Zz7Aa4Bb1Cc8Dd5Ee2Ff9";

    fn run(t: &mut BlockTracker, lines: &[&str], now: Instant) -> Vec<String> {
        lines
            .iter()
            .map(|l| t.redact_line(l, now).into_owned())
            .collect()
    }

    #[test]
    fn masks_a_block_split_over_lines() {
        let mut t = BlockTracker::default();
        let now = Instant::now();
        let out = run(
            &mut t,
            &[
                "app: -----BEGIN PRIVATE KEY-----",
                &format!("app: {BODY}"),
                &format!(r#"{{"message":"{MID}"}}"#),
                "app: Ag==",
                "app: -----END PRIVATE KEY-----",
                "app: done",
            ],
            now,
        );
        assert_eq!(out[0], "app: -----BEGIN PRIVATE KEY-----");
        assert_eq!(out[1], "app: [REDACTED:private_key]");
        assert_eq!(out[2], r#"{"message":"[REDACTED:private_key]"}"#);
        assert_eq!(out[3], "app: [REDACTED:private_key]");
        assert_eq!(out[4], "app: [REDACTED:private_key]");
        assert_eq!(out[5], "app: done");
        assert!(!t.in_block());
        assert_eq!(t.blocks(), 1);
    }

    #[test]
    fn every_kind_of_header() {
        for label in [
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "DSA PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        ] {
            let mut t = BlockTracker::default();
            t.feed(&format!("-----BEGIN {label}-----"), Instant::now());
            assert!(t.in_block(), "{label}");
        }
        let mut t = BlockTracker::default();
        for public in [
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        ] {
            assert!(t.feed(public, Instant::now()).is_empty());
            assert!(!t.in_block(), "{public}");
        }
    }

    #[test]
    fn a_headless_body_opens_the_block() {
        let mut t = BlockTracker::default();
        let now = Instant::now();
        let out = run(&mut t, &[BODY, MID, "-----END RSA PRIVATE KEY-----"], now);
        assert!(out.iter().all(|l| l == KEY_MARKER), "{out:?}");
        // A middle line alone is random base64: nothing to recognise.
        let mut fresh = BlockTracker::default();
        assert!(fresh.feed(MID, now).is_empty());
    }

    #[test]
    fn multi_line_text_in_one_event() {
        let mut t = BlockTracker::default();
        let now = Instant::now();
        t.feed("-----BEGIN OPENSSH PRIVATE KEY-----", now);
        let text = format!("{MID}\n{MID}\n-----END OPENSSH PRIVATE KEY-----\nafter");
        let out = t.redact_line(&text, now);
        assert_eq!(
            out,
            "[REDACTED:private_key]\n[REDACTED:private_key]\n[REDACTED:private_key]\nafter"
        );
    }

    #[test]
    fn a_block_that_never_closes_ends_at_the_line_limit() {
        let limits = BlockLimits {
            max_lines: 5,
            ..BlockLimits::default()
        };
        let mut t = BlockTracker::with_limits(limits);
        let now = Instant::now();
        t.feed("-----BEGIN PRIVATE KEY-----", now);
        for _ in 0..5 {
            assert_eq!(t.redact_line(MID, now), KEY_MARKER);
        }
        assert_eq!(
            t.redact_line("user bob logged in", now),
            "user bob logged in"
        );
        assert!(!t.in_block());
        assert_eq!(t.cut(), 1);
    }

    #[test]
    fn byte_and_time_limits() {
        let now = Instant::now();
        let mut t = BlockTracker::with_limits(BlockLimits {
            max_bytes: 140,
            ..BlockLimits::default()
        });
        t.feed("-----BEGIN PRIVATE KEY-----", now);
        assert_eq!(t.redact_line(MID, now), KEY_MARKER);
        assert_eq!(t.redact_line(MID, now), KEY_MARKER);
        assert_eq!(t.redact_line(MID, now), MID);

        let mut t = BlockTracker::default();
        t.feed("-----BEGIN PRIVATE KEY-----", now);
        assert_eq!(
            t.redact_line(MID, now + Duration::from_secs(59)),
            KEY_MARKER
        );
        assert_eq!(t.redact_line(MID, now + Duration::from_secs(61)), MID);
        assert_eq!(t.cut(), 1);
    }

    #[test]
    fn a_new_begin_inside_a_block_restarts_it() {
        let mut t = BlockTracker::with_limits(BlockLimits {
            max_lines: 2,
            ..BlockLimits::default()
        });
        let now = Instant::now();
        t.feed("-----BEGIN PRIVATE KEY-----", now);
        t.feed(MID, now);
        t.feed("-----BEGIN EC PRIVATE KEY-----", now);
        assert_eq!(t.redact_line(MID, now), KEY_MARKER);
        assert_eq!(t.redact_line(MID, now), KEY_MARKER);
    }

    #[test]
    fn a_forged_header_hides_no_ordinary_words() {
        let mut t = BlockTracker::default();
        let now = Instant::now();
        t.feed("sshd: -----BEGIN RSA PRIVATE KEY-----", now);
        for l in [
            "sshd: Failed password for root from 203.0.113.9 port 22 ssh2",
            "Proc-Type: 4,ENCRYPTED",
            "sshd: Accepted publickey for deploy",
        ] {
            assert_eq!(t.redact_line(l, now), l);
        }
        // After the body's short last line, an ordinary line ends the block.
        assert_eq!(t.redact_line(MID, now), KEY_MARKER);
        assert_eq!(t.redact_line("q83kZ0xW==", now), KEY_MARKER);
        assert_eq!(t.redact_line("=Xk2b", now), KEY_MARKER);
        let l = "sshd: session closed for user deploy";
        assert_eq!(t.redact_line(l, now), l);
        assert!(!t.in_block());
        assert_eq!(t.cut(), 1);
    }

    #[test]
    fn a_masked_line_read_again_is_unchanged() {
        let now = Instant::now();
        let mut t = BlockTracker::default();
        t.feed("-----BEGIN PRIVATE KEY-----", now);
        let once = t
            .clone()
            .redact_line(&format!("app: {MID}"), now)
            .into_owned();
        assert_eq!(once, "app: [REDACTED:private_key]");
        assert_eq!(t.redact_line(&once, now), once);
    }

    #[test]
    fn streams_do_not_share_state() {
        let now = Instant::now();
        let (mut a, mut b) = (BlockTracker::default(), BlockTracker::default());
        a.feed("-----BEGIN PRIVATE KEY-----", now);
        assert_eq!(b.redact_line(MID, now), MID);
        assert_eq!(a.redact_line(MID, now), KEY_MARKER);
        b.feed("-----BEGIN PRIVATE KEY-----", now);
        a.feed("-----END PRIVATE KEY-----", now);
        assert_eq!(a.redact_line(MID, now), MID);
        assert_eq!(b.redact_line(MID, now), KEY_MARKER);
    }

    #[test]
    fn one_line_keys_and_ordinary_lines_are_left_to_the_scanner() {
        let mut t = BlockTracker::default();
        let now = Instant::now();
        for l in [
            "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----",
            "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "GET /index.html 200",
            "",
        ] {
            assert!(t.feed(l, now).is_empty(), "{l}");
            assert!(!t.in_block());
        }
    }
}
