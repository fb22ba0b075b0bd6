//! Limits hold on hostile input: huge lines, deep nesting, bombs.

use std::io::Write;
use ward_event::{DecodeError, Limits, bulk, gunzip, hec, ndjson, otlp};

#[test]
fn a_100_mb_line_is_refused_and_the_next_line_decodes() {
    let mut body = Vec::with_capacity(100 * 1024 * 1024 + 64);
    body.extend_from_slice(b"{\"message\":\"");
    body.resize(100 * 1024 * 1024, b'a');
    body.extend_from_slice(b"\"}\n{\"message\":\"after\"}\n");
    let out = ndjson::decode(&body, &Limits::default());
    assert_eq!(out.len(), 2);
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(err.record, 1);
    assert_eq!(
        err.reason,
        "line is 104857602 bytes, over the 1048576-byte limit"
    );
    assert_eq!(out[1].as_ref().unwrap().get_str("message"), Some("after"));
}

#[test]
fn ten_thousand_deep_json_everywhere() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let limits = Limits::default();
    let out = ndjson::decode(deep.as_bytes(), &limits);
    assert!(
        out[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("nesting depth 65 at byte 68")
    );
    let bulk_body = format!("{{\"index\":{{}}}}\n{deep}\n");
    let items = bulk::decode(bulk_body.as_bytes(), &limits);
    assert!(
        items[0]
            .doc
            .as_ref()
            .unwrap_err()
            .reason
            .contains("nesting depth 65")
    );
    let hec_body = format!("{{\"event\":{deep}}}{{\"event\":\"ok\"}}");
    let out = hec::decode_event(hec_body.as_bytes(), &limits);
    assert!(
        out[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("nesting depth 65")
    );
    assert_eq!(out[1].as_ref().unwrap().get_str("message"), Some("ok"));
    let otlp_body = format!("{{\"resourceLogs\":{deep}}}");
    assert!(matches!(
        otlp::decode_json(otlp_body.as_bytes(), &limits),
        Err(DecodeError::Json { .. })
    ));
}

#[test]
fn gzip_bomb_and_truncation() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b'{'; 64 << 20]).unwrap();
    let bomb = enc.finish().unwrap();
    let limits = Limits::default();
    assert!(matches!(
        gunzip(&bomb, limits.max_request_bytes),
        Err(DecodeError::TooLarge { limit }) if limit == 16 << 20
    ));
    let err = gunzip(&bomb[..bomb.len() / 2], limits.max_request_bytes).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::GzipTruncated { .. } | DecodeError::TooLarge { .. }
    ));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"{\"message\":\"hi\"}\n").unwrap();
    let small = enc.finish().unwrap();
    let err = gunzip(&small[..small.len() - 3], 1 << 20).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "gzip body is truncated after {} compressed bytes",
            small.len() - 3
        )
    );
}
