//! Bounded gzip decompression for request bodies (`Content-Encoding: gzip`).

use crate::DecodeError;
use flate2::read::MultiGzDecoder;
use std::io::Read;

/// Decompresses a gzip body (several concatenated members are allowed),
/// refusing to produce more than `max_out` bytes, so that a small
/// "gzip bomb" cannot exhaust memory. A truncated or corrupt stream is an
/// error; nothing partial is returned.
///
/// ```
/// use std::io::Write;
/// let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// enc.write_all(b"hello").unwrap();
/// let gz = enc.finish().unwrap();
/// assert_eq!(ward_event::gunzip(&gz, 100).unwrap(), b"hello");
/// assert!(ward_event::gunzip(&gz, 3).is_err());
/// assert!(ward_event::gunzip(&gz[..gz.len() - 4], 100).is_err());
/// ```
pub fn gunzip(body: &[u8], max_out: usize) -> Result<Vec<u8>, DecodeError> {
    let mut decoder = MultiGzDecoder::new(body);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_out));
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(DecodeError::GzipTruncated { read: body.len() });
            }
            Err(e) => {
                return Err(DecodeError::GzipCorrupt {
                    reason: e.to_string(),
                });
            }
        };
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > max_out {
            return Err(DecodeError::TooLarge { limit: max_out });
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn round_trip_and_multi_member() {
        let mut body = gz(b"one\n");
        body.extend(gz(b"two\n"));
        assert_eq!(gunzip(&body, 1 << 20).unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn bomb_is_refused() {
        let body = gz(&vec![0u8; 10 << 20]);
        assert!(body.len() < 20_000);
        match gunzip(&body, 1 << 20) {
            Err(DecodeError::TooLarge { limit }) => assert_eq!(limit, 1 << 20),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_and_corrupt() {
        let body = gz(b"some text that is long enough to matter, some text");
        for cut in [5, 12, body.len() / 2, body.len() - 1] {
            let err = gunzip(&body[..cut], 1 << 20).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::GzipTruncated { .. } | DecodeError::GzipCorrupt { .. }
                ),
                "{cut}: {err:?}"
            );
        }
        assert!(matches!(
            gunzip(b"not gzip at all", 100),
            Err(DecodeError::GzipCorrupt { .. })
        ));
        let mut bad = body.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff;
        assert!(gunzip(&bad, 1 << 20).is_err());
    }
}
