//! The sources: every input Ward accepts, each in its own file, all feeding
//! [`crate::pipeline::Pipeline`]. HTTP inputs share ingest authentication
//! ([`Tokens`]) and body reading ([`read_body`]).
//!
//! | input | file | route / listener |
//! |---|---|---|
//! | NDJSON and text | `http.rs` | `POST /api/v1/ingest` |
//! | Elasticsearch bulk | `bulk.rs` | `POST /_bulk`, `POST /{index}/_bulk`, `GET /` |
//! | Splunk HEC | `hec.rs` | `POST /services/collector/event`, `/raw` |
//! | OTLP/HTTP logs | `otlp.rs` | `POST /v1/logs` |
//! | syslog | `syslog.rs` | UDP and TCP, RFC 5424/3164, RFC 6587 framing |
//! | Kafka | `kafka.rs` | consumer groups (`[[kafka]]`), commit after store |

pub mod auth;
pub mod bulk;
pub mod hec;
pub mod http;
pub mod kafka;
pub mod otlp;
pub mod syslog;

pub use auth::{Identity, Tokens};

use axum::http::HeaderMap;
use bytes::Bytes;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(
        "request body is {0} bytes after decompression; the limit is {1} (limits.max_request_bytes)"
    )]
    TooLarge(usize, usize),
    #[error("request body is not valid gzip: {0}")]
    Gzip(String),
    #[error("unsupported Content-Encoding '{0}': send identity or gzip")]
    Encoding(String),
}

/// The request body, decompressed if `Content-Encoding: gzip`, within the limit.
pub fn read_body(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Bytes, BodyError> {
    let enc = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let body = match enc.as_str() {
        "" | "identity" => body,
        "gzip" | "x-gzip" => {
            Bytes::from(ward_event::gunzip(&body, max).map_err(|e| BodyError::Gzip(e.to_string()))?)
        }
        other => return Err(BodyError::Encoding(other.chars().take(40).collect())),
    };
    if body.len() > max {
        return Err(BodyError::TooLarge(body.len(), max));
    }
    Ok(body)
}
