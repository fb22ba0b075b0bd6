//! RFC 6587 framing of a syslog stream (TCP): octet counting
//! (`<len> <msg>`) and LF-terminated frames, detected per frame: a frame
//! that starts with a digit is octet-counted, any other is LF-terminated.
//!
//! Invariants: the framer never holds more than one frame limit (plus the
//! length prefix) of bytes; after a bad frame (a prefix that is not a
//! number, a declared length over the limit, a declared length that does not
//! end where a frame can end, or an LF frame over the limit) it reports one
//! [`FrameError`] and resynchronizes at the next newline, so later good
//! frames are not lost.

use crate::{FrameError, Limits};
use std::collections::VecDeque;

/// The longest length prefix accepted (`4294967295 ` has 10 digits).
const MAX_PREFIX_DIGITS: usize = 10;

/// Cuts frames out of a byte stream pushed in pieces of any size.
#[derive(Debug)]
pub struct Framer {
    /// Bytes pushed and not yet framed start at `buf[start]`: frames are
    /// cut by moving `start`, and the consumed prefix is dropped once per
    /// push (dropping it per frame would move the rest of the buffer for
    /// every frame).
    buf: Vec<u8>,
    start: usize,
    max_frame: usize,
    /// Dropping bytes up to the next newline after an error.
    discarding: bool,
    /// Frames seen so far, for error messages.
    frames: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Results produced at end of stream, handed out by `finish`.
    pending: VecDeque<Result<Vec<u8>, FrameError>>,
    finished: bool,
}

enum Step {
    Frame(Vec<u8>),
    Error(FrameError),
    NeedMore,
}

impl Framer {
    /// A framer with `limits.max_frame_bytes` as the frame limit.
    pub fn new(limits: &Limits) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_frame: limits.max_frame_bytes,
            discarding: false,
            frames: 0,
            offset: 0,
            pending: VecDeque::new(),
            finished: false,
        }
    }

    /// Adds bytes from the stream and returns every frame (or frame error)
    /// now complete, in stream order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        if self.discarding {
            match memchr::memchr(b'\n', bytes) {
                Some(pos) => {
                    self.offset += pos as u64 + 1;
                    bytes = &bytes[pos + 1..];
                    self.discarding = false;
                }
                None => {
                    self.offset += bytes.len() as u64;
                    return out;
                }
            }
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.step(false) {
                Step::Frame(f) => out.push(Ok(f)),
                Step::Error(e) => out.push(Err(e)),
                Step::NeedMore => break,
            }
        }
        self.buf.drain(..self.start);
        self.start = 0;
        out
    }

    /// Ends the stream. Returns what remained: a last LF frame without its
    /// newline, or the error for a frame cut short, followed by any frames
    /// after it. Call it until it returns `None`.
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if !self.finished {
            self.finished = true;
            if self.discarding {
                self.buf.clear();
                self.start = 0;
            }
            loop {
                match self.step(true) {
                    Step::Frame(f) => self.pending.push_back(Ok(f)),
                    Step::Error(e) => self.pending.push_back(Err(e)),
                    Step::NeedMore => break,
                }
            }
        }
        self.pending.pop_front()
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Drops the bad frame up to and including the next newline (or
    /// everything, then keeps dropping until one arrives).
    /// The bytes not framed yet.
    fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn resync(&mut self, eof: bool) {
        match memchr::memchr(b'\n', self.rest()) {
            Some(pos) => self.consume(pos + 1),
            None => {
                let n = self.rest().len();
                self.consume(n);
                self.discarding = !eof;
            }
        }
    }

    fn step(&mut self, eof: bool) -> Step {
        let skip = self
            .rest()
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
            .unwrap_or(self.rest().len());
        self.consume(skip);
        let Some(&first) = self.rest().first() else {
            return Step::NeedMore;
        };
        if first.is_ascii_digit() {
            self.octet_counted(eof)
        } else {
            self.lf_terminated(eof)
        }
    }

    fn error(&mut self, eof: bool, make: impl FnOnce(usize, u64) -> FrameError) -> Step {
        self.frames += 1;
        let err = make(self.frames, self.offset);
        self.resync(eof);
        Step::Error(err)
    }

    fn octet_counted(&mut self, eof: bool) -> Step {
        let digits = self
            .rest()
            .iter()
            .take(MAX_PREFIX_DIGITS + 1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        match self.rest().get(digits) {
            Some(b' ') if digits <= MAX_PREFIX_DIGITS => {}
            None if digits <= MAX_PREFIX_DIGITS && !eof => return Step::NeedMore,
            _ => {
                return self.error(eof, |frame, offset| FrameError::InvalidPrefix {
                    frame,
                    offset,
                });
            }
        }
        let len: u64 = self.rest()[..digits]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        if len > self.max_frame as u64 {
            let limit = self.max_frame;
            return self.error(eof, |frame, offset| FrameError::TooLarge {
                frame,
                offset,
                len,
                limit,
            });
        }
        let start = digits + 1;
        let end = start + len as usize;
        if self.rest().len() < end {
            if eof {
                let got = (self.rest().len() - start) as u64;
                return self.error(eof, |frame, offset| FrameError::Truncated {
                    frame,
                    offset,
                    got,
                    len,
                });
            }
            return Step::NeedMore;
        }
        // A syslog message starts with '<', and the next frame can only
        // start with a digit, '<' or a line ending: anything else means the
        // prefix does not describe the data.
        let starts_ok = self.rest().get(start) == Some(&b'<');
        let ends_ok = self
            .rest()
            .get(end)
            .is_none_or(|b| b.is_ascii_digit() || matches!(b, b'<' | b'\n' | b'\r' | b'\0'));
        if !starts_ok || !ends_ok {
            return self.error(eof, |frame, offset| FrameError::LengthMismatch {
                frame,
                offset,
                len,
            });
        }
        self.frames += 1;
        let frame = self.rest()[start..end].to_vec();
        self.consume(end);
        Step::Frame(frame)
    }

    fn lf_terminated(&mut self, eof: bool) -> Step {
        let limit = self.max_frame;
        let (frame_end, next) = match memchr::memchr(b'\n', self.rest()) {
            Some(pos) => (pos, pos + 1),
            None if eof => (self.rest().len(), self.rest().len()),
            None => {
                if self.rest().len() > limit {
                    let len = self.rest().len() as u64;
                    return self.error(eof, |frame, offset| FrameError::TooLarge {
                        frame,
                        offset,
                        len,
                        limit,
                    });
                }
                return Step::NeedMore;
            }
        };
        let mut frame = &self.rest()[..frame_end];
        if let [rest @ .., b'\r'] = frame {
            frame = rest;
        }
        if frame.len() > limit {
            let len = frame.len() as u64;
            return self.error(eof, |frame, offset| FrameError::TooLarge {
                frame,
                offset,
                len,
                limit,
            });
        }
        let frame = frame.to_vec();
        self.frames += 1;
        self.consume(next);
        Step::Frame(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(max: usize) -> Framer {
        Framer::new(&Limits {
            max_frame_bytes: max,
            ..Limits::default()
        })
    }

    fn all(f: &mut Framer, input: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = f.push(input);
        while let Some(r) = f.finish() {
            out.push(r);
        }
        out
    }

    fn ok(s: &str) -> Result<Vec<u8>, FrameError> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn mixed_framing() {
        let mut f = framer(1024);
        let out = all(&mut f, b"<13>a\n11 <13>b\nline2<14>c\r\n5 <1>xy<15>last");
        assert_eq!(
            out,
            vec![
                ok("<13>a"),
                ok("<13>b\nline2"),
                ok("<14>c"),
                ok("<1>xy"),
                ok("<15>last")
            ]
        );
    }

    #[test]
    fn bad_prefix_resyncs_at_newline() {
        let mut f = framer(1024);
        let out = all(&mut f, b"12a4 <13>bad\n<14>good\n");
        assert_eq!(
            out,
            vec![
                Err(FrameError::InvalidPrefix {
                    frame: 1,
                    offset: 0
                }),
                ok("<14>good")
            ]
        );
    }

    #[test]
    fn length_over_limit_resyncs() {
        let mut f = framer(100);
        let out = all(&mut f, b"99999 <13>x\n<14>good\n");
        assert_eq!(
            out,
            vec![
                Err(FrameError::TooLarge {
                    frame: 1,
                    offset: 0,
                    len: 99999,
                    limit: 100
                }),
                ok("<14>good")
            ]
        );
    }

    #[test]
    fn lying_length_is_detected() {
        let mut f = framer(1024);
        let out = all(&mut f, b"20 <13>short\n<14>next frame here\n3 <1>");
        assert_eq!(
            out,
            vec![
                Err(FrameError::LengthMismatch {
                    frame: 1,
                    offset: 0,
                    len: 20
                }),
                ok("<14>next frame here"),
                ok("<1>")
            ]
        );
    }

    #[test]
    fn truncated_at_end_reports_then_recovers_lines() {
        let mut f = framer(1024);
        let mut out = f.push(b"500 <13>cut\n<14>after\n");
        assert!(out.is_empty());
        while let Some(r) = f.finish() {
            out.push(r);
        }
        assert_eq!(
            out,
            vec![
                Err(FrameError::Truncated {
                    frame: 1,
                    offset: 0,
                    got: 18,
                    len: 500
                }),
                ok("<14>after")
            ]
        );
    }

    #[test]
    fn long_lf_frame_is_not_buffered_beyond_the_limit() {
        let mut f = framer(64);
        let mut errors = 0;
        for _ in 0..1000 {
            for r in f.push(&[b'x'; 1000]) {
                assert!(matches!(r, Err(FrameError::TooLarge { .. })));
                errors += 1;
            }
            assert!(f.buf.len() <= 1000);
        }
        assert_eq!(errors, 1);
        let out = f.push(b"tail of the long one\n<13>fine\n");
        assert_eq!(out, vec![ok("<13>fine")]);
    }

    #[test]
    fn a_large_push_keeps_only_the_unfinished_frame_and_its_offsets() {
        let mut f = framer(1024);
        let mut input = Vec::new();
        for i in 0..5000 {
            if i % 2 == 0 {
                input.extend_from_slice(format!("<13>lf {i}\n").as_bytes());
            } else {
                let m = format!("<13>oc {i}");
                input.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
            }
        }
        input.extend_from_slice(b"<13>unfinished");
        let out = f.push(&input);
        assert_eq!(out.len(), 5000);
        assert_eq!(out[4999], ok("<13>oc 4999"));
        assert_eq!(f.rest(), b"<13>unfinished");
        assert_eq!(f.buf.len(), f.rest().len(), "framed bytes are dropped");
        // Offsets in errors still count from the start of the stream.
        let out = f.push(b" more\n12a4 bad\n");
        assert_eq!(out[0], ok("<13>unfinished more"));
        assert_eq!(
            out[1],
            Err(FrameError::InvalidPrefix {
                frame: 5002,
                offset: input.len() as u64 + 6
            })
        );
    }
}
