//! The crate's errors. None of them carries a field value: only positions,
//! sizes and kinds, because values may be secrets.

use thiserror::Error;

/// One record (line, item, frame) that could not be decoded. The other
/// records of the same input are unaffected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("record {record}: {reason}")]
pub struct RecordError {
    /// 1-based number of the line, item or frame in its input.
    pub record: usize,
    /// What was wrong and where; never contains raw field values.
    pub reason: String,
    /// Where the record's bytes are in its input, when the decoder knows:
    /// the application keeps them (redacted) in the dead-letter event
    /// without searching the input again.
    pub span: Option<std::ops::Range<usize>>,
}

impl RecordError {
    /// An error for record `record` whose bytes the decoder cannot point at.
    pub fn new(record: usize, reason: impl Into<String>) -> Self {
        Self {
            record,
            reason: reason.into(),
            span: None,
        }
    }

    /// The same error, pointing at the record's bytes.
    pub fn at(mut self, span: std::ops::Range<usize>) -> Self {
        self.span = Some(span);
        self
    }

    /// The record's bytes in `input`, or nothing when the span is unknown
    /// or does not fit `input`.
    pub fn original<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        self.span
            .as_ref()
            .and_then(|r| input.get(r.clone()))
            .unwrap_or_default()
    }
}

/// A whole request body could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The gzip stream ended before its trailer.
    #[error("gzip body is truncated after {read} compressed bytes")]
    GzipTruncated {
        /// Compressed bytes consumed before the end.
        read: usize,
    },
    /// The gzip stream is not valid.
    #[error("gzip body is corrupt: {reason}")]
    GzipCorrupt {
        /// The decompressor's description of the fault.
        reason: String,
    },
    /// Decompression produced more than the limit (a "zip bomb" or simply
    /// too large a request).
    #[error("decompressed body exceeds the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// An OTLP protobuf message could not be decoded.
    #[error("invalid OTLP protobuf: {reason}")]
    Protobuf {
        /// What prost reported (field paths, no values).
        reason: String,
    },
    /// The body is not the JSON document the endpoint expects.
    #[error("invalid JSON body: {reason}")]
    Json {
        /// What was wrong and where.
        reason: String,
    },
}

/// A syslog frame that could not be cut out of a stream (RFC 6587). The
/// framer resynchronizes at the next newline and goes on.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    /// An octet-counting prefix that is not `<digits> `.
    #[error(
        "frame {frame} at byte {offset}: octet-count prefix is not a number followed by a space"
    )]
    InvalidPrefix {
        /// 1-based frame number in the stream.
        frame: usize,
        /// Byte offset of the frame in the stream.
        offset: u64,
    },
    /// A frame (declared or found) longer than the limit.
    #[error("frame {frame} at byte {offset}: {len} bytes is over the {limit}-byte frame limit")]
    TooLarge {
        /// 1-based frame number in the stream.
        frame: usize,
        /// Byte offset of the frame in the stream.
        offset: u64,
        /// The declared or observed length (a lower bound when observed).
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The declared length does not end where a frame can end: the prefix
    /// does not match the data.
    #[error("frame {frame} at byte {offset}: declared length {len} does not match the data")]
    LengthMismatch {
        /// 1-based frame number in the stream.
        frame: usize,
        /// Byte offset of the frame in the stream.
        offset: u64,
        /// The declared length.
        len: u64,
    },
    /// The stream ended inside a frame.
    #[error("frame {frame} at byte {offset}: stream ended after {got} of {len} declared bytes")]
    Truncated {
        /// 1-based frame number in the stream.
        frame: usize,
        /// Byte offset of the frame in the stream.
        offset: u64,
        /// Bytes received.
        got: u64,
        /// The declared length.
        len: u64,
    },
}

#[cfg(test)]
mod tests {
    use crate::{Limits, bulk, hec, ndjson, text};

    #[test]
    fn rejected_records_point_at_their_bytes() {
        let limits = Limits::default();
        let body = b"{\"a\":1}\r\n[2]\n\n{\"b\":\n";
        let out = ndjson::decode(body, &limits);
        let bad: Vec<&[u8]> = out
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.original(body))
            .collect();
        assert_eq!(bad, vec![&b"[2]"[..], &b"{\"b\":"[..]]);

        let body = b"ok\n\xff\xfe\n";
        let out = text::decode(body, &limits);
        assert_eq!(out[1].as_ref().unwrap_err().original(body), b"\xff\xfe");

        let body = br#"{"event":"a"}{"nope":1}{"event":"#;
        let out = hec::decode_event(body, &limits);
        let errs: Vec<&[u8]> = out
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.original(body))
            .collect();
        assert_eq!(errs, vec![&br#"{"nope":1}"#[..], &br#"{"event":"#[..]]);

        let body = b"{\"index\":{}}\n{\"x\":\n{\"delete\":{\"_id\":\"1\"}}\n";
        let items = bulk::decode(body, &limits);
        let errs: Vec<&[u8]> = items
            .iter()
            .filter_map(|i| i.doc.as_ref().err())
            .map(|e| e.original(body))
            .collect();
        assert_eq!(
            errs,
            vec![&b"{\"x\":"[..], &b"{\"delete\":{\"_id\":\"1\"}}"[..]]
        );
    }

    #[test]
    fn a_span_outside_the_input_gives_nothing() {
        let e = super::RecordError::new(1, "x").at(5..50);
        assert_eq!(e.original(b"short"), b"");
    }
}
