//! Binary Windows event log files (`.evtx`), read record by record with the
//! `evtx` crate into the JSON shape `evtx_dump` writes (`Event.System`,
//! `Event.EventData`, attributes under `#attributes`), which the Windows
//! recognizer claims (`recognize/windows`).
//!
//! The file is read one 64 KiB chunk at a time, so memory does not grow
//! with the file. A damaged chunk or record is reported (by chunk number,
//! record id or offset, never by content) and the reader goes on with the
//! next one; only a file whose header is not an evtx header is refused as a
//! whole.

use std::io::{Read, Seek};

use serde_json::{Map, Value};

/// The file header's size, before the first chunk.
const FILE_HEADER: u64 = 4096;
/// Every chunk's size.
const CHUNK: u64 = 65536;

/// The first eight bytes of every evtx file.
pub const MAGIC: &[u8; 8] = b"ElfFile\0";

/// Whether `head` (the first bytes of a file) starts like an evtx file.
pub fn is_evtx(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// One record of an evtx file.
#[derive(Debug, Clone)]
pub struct Record {
    /// The record's `EventRecordID`.
    pub record_id: u64,
    /// The record as `evtx_dump` JSON (`{"Event": {...}}`).
    pub object: Map<String, Value>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum EvtxError {
    /// The header is missing or damaged.
    #[error("not a readable evtx file: {0}")]
    Header(String),
}

/// Calls `each` with every record of the file in order, or with the reason
/// a chunk or record could not be read (the records around it are still
/// read). The error text names the chunk, record or offset, never content.
///
/// ```
/// let mut seen = 0;
/// let err = ward_event::evtx::read(std::io::Cursor::new(b"not evtx".to_vec()), |_| seen += 1);
/// assert!(err.is_err());
/// assert_eq!(seen, 0);
/// ```
pub fn read<R: Read + Seek>(
    mut input: R,
    mut each: impl FnMut(Result<Record, String>),
) -> Result<(), EvtxError> {
    // The parser stops quietly at a partial chunk: say so.
    let len = input
        .seek(std::io::SeekFrom::End(0))
        .and_then(|len| input.seek(std::io::SeekFrom::Start(0)).map(|_| len))
        .map_err(|e| EvtxError::Header(e.to_string()))?;
    let partial = len
        .checked_sub(FILE_HEADER)
        .map(|body| (body / CHUNK, body % CHUNK))
        .filter(|&(_, rest)| rest != 0);
    let settings = evtx::ParserSettings::new().num_threads(1);
    let mut parser = evtx::EvtxParser::from_read_seek(input)
        .map_err(|e| EvtxError::Header(describe(&e)))?
        .with_configuration(settings);
    let mut records = parser.records_json_value();
    loop {
        // The parser is third-party code over hostile bytes: a panic ends
        // this file with an error instead of the process.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| records.next()));
        match next {
            Ok(None) => {
                if let Some((chunk, rest)) = partial {
                    each(Err(format!(
                        "the file ends {rest} bytes into chunk {chunk} (truncated): \
                         that chunk's records are skipped"
                    )));
                }
                return Ok(());
            }
            Ok(Some(Ok(r))) => match r.data {
                Value::Object(object) => each(Ok(Record {
                    record_id: r.event_record_id,
                    object,
                })),
                _ => each(Err(format!(
                    "record {}: not an event object, skipped",
                    r.event_record_id
                ))),
            },
            Ok(Some(Err(e))) => each(Err(format!("{}, skipped", describe(&e)))),
            Err(_) => {
                each(Err(
                    "the evtx reader failed on a damaged chunk; the rest of the file is skipped"
                        .to_owned(),
                ));
                return Ok(());
            }
        }
    }
}

/// The error and its first cause (`Failed to parse chunk number 3: ...`).
/// The evtx crate's messages name chunks, records, offsets and token
/// types; they do not carry record content.
fn describe(e: &evtx::err::EvtxError) -> String {
    let top = e.to_string();
    let first = |s: &str| s.chars().take(200).collect::<String>();
    match std::error::Error::source(e) {
        Some(cause) => format!("{}: {}", first(&top), first(&cause.to_string())),
        None => first(&top),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Option<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/sigma/regression_data/rules/windows/process_creation");
        let sub = std::fs::read_dir(&dir).ok()?.flatten().next()?.path();
        let file = std::fs::read_dir(sub)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "evtx"))?;
        std::fs::read(file).ok()
    }

    #[test]
    fn reads_records_in_the_evtx_dump_shape() {
        let Some(bytes) = sample() else {
            panic!("SigmaHQ regression data expected at ../shared/data/sigma");
        };
        assert!(is_evtx(&bytes));
        let mut records = Vec::new();
        let mut errors = Vec::new();
        read(std::io::Cursor::new(bytes), |r| match r {
            Ok(r) => records.push(r),
            Err(e) => errors.push(e),
        })
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!records.is_empty());
        let e = crate::Event(records[0].object.clone());
        assert!(e.get_str("Event.System.Channel").is_some());
    }

    #[test]
    fn damage_is_reported_and_other_records_kept() {
        let Some(bytes) = sample() else {
            panic!("SigmaHQ regression data expected at ../shared/data/sigma");
        };
        let count = |bytes: Vec<u8>| {
            let (mut ok, mut bad) = (0, Vec::new());
            let r = read(std::io::Cursor::new(bytes), |r| match r {
                Ok(_) => ok += 1,
                Err(e) => bad.push(e),
            });
            (r.is_ok(), ok, bad)
        };
        let (_, whole, _) = count(bytes.clone());
        // Truncated inside the first chunk.
        let (_, ok, bad) = count(bytes[..bytes.len().min(4096 + 600)].to_vec());
        assert!(ok < whole);
        assert_eq!(
            bad,
            ["the file ends 600 bytes into chunk 0 (truncated): that chunk's records are skipped"]
        );
        // Garbage over the chunk's records: every byte flipped in a window.
        let mut damaged = bytes.clone();
        for b in damaged.iter_mut().skip(4096 + 512).take(256) {
            *b ^= 0x5a;
        }
        let (_, _, bad) = count(damaged);
        assert!(bad.iter().all(|e| !e.is_empty()));
        // Not an evtx file at all.
        let (ok, n, _) = count(b"{\"a\": 1}".to_vec());
        assert!(!ok);
        assert_eq!(n, 0);
    }
}
