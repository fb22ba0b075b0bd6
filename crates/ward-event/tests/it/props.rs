//! Property tests: no decoder panics on any bytes; the syslog framer gives
//! back the same frames however the stream is split; timestamps round-trip.

use proptest::prelude::*;
use ward_event::hec::RawParams;
use ward_event::syslog::Framer;
use ward_event::time::{format_rfc3339, parse_str};
use ward_event::{Limits, bulk, gunzip, hec, ndjson, otlp, syslog, text};

fn small_limits() -> Limits {
    Limits {
        max_line_bytes: 256,
        max_depth: 8,
        max_frame_bytes: 128,
        max_request_bytes: 4096,
        max_original_bytes: 64,
        max_envelope_records: 4,
    }
}

/// Bytes that look like the inputs often enough to reach deep code paths.
fn inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "[ -~\n{}\\[\\]\":,<>0-9]{0,300}".prop_map(String::into_bytes),
        "(\\{\"(index|event|message|time|resourceLogs)\":[ -~]{0,40}\\}\n?){0,6}"
            .prop_map(String::into_bytes),
        "(<[0-9]{1,3}>(1 )?[ -~]{0,60}\n){0,5}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(body in inputs()) {
        let limits = small_limits();
        let received = "2024-01-01T00:00:00Z".parse().unwrap();
        let _ = ndjson::decode(&body, &limits);
        let _ = text::decode(&body, &limits);
        let _ = bulk::decode(&body, &limits);
        let _ = hec::decode_event(&body, &limits);
        let _ = hec::decode_raw(&body, &RawParams { sourcetype: Some("_json".into()), ..RawParams::default() }, &limits);
        let _ = otlp::decode_json(&body, &limits);
        let _ = otlp::decode_protobuf(&body, &limits);
        let _ = syslog::parse(&body, received);
        let _ = gunzip(&body, 4096);
        let mut framer = Framer::new(&limits);
        for chunk in body.chunks(7) {
            for frame in framer.push(chunk).into_iter().flatten() {
                prop_assert!(frame.len() <= limits.max_frame_bytes);
            }
        }
        while framer.finish().is_some() {}
    }

    #[test]
    fn framer_reassembles_any_split(
        frames in proptest::collection::vec(
            (any::<bool>(), "<[0-9]{1,3}>[ -~]{0,40}", "[ -~\n]{0,20}"), 1..12),
        cuts in proptest::collection::vec(0usize..2000, 0..10),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (octet, head, tail) in &frames {
            if *octet {
                let msg = format!("{head}{tail}");
                stream.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
                want.push(msg.into_bytes());
            } else {
                stream.extend_from_slice(format!("{head}\n").as_bytes());
                want.push(head.clone().into_bytes());
            }
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut framer = Framer::new(&Limits::default());
        let mut got = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            for r in framer.push(&stream[start..cut]) {
                got.push(r.unwrap());
            }
            start = cut;
        }
        while let Some(r) = framer.finish() {
            got.push(r.unwrap());
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn timestamps_round_trip(ms in -62_135_596_800_000i64..253_402_300_799_999i64) {
        let received = "2024-01-01T00:00:00Z".parse().unwrap();
        let ts = jiff::Timestamp::from_millisecond(ms).unwrap();
        let text = format_rfc3339(ts);
        prop_assert_eq!(text.len(), 24);
        let back = parse_str(&text, received).unwrap();
        prop_assert_eq!(back, ts);
        // Epoch millis are recognized by magnitude: 1e11 <= |ms| < 1e14.
        if (100_000_000_000..100_000_000_000_000).contains(&ms.abs()) {
            let epoch = parse_str(&ms.to_string(), received).unwrap();
            prop_assert_eq!(epoch, ts);
        }
    }

    #[test]
    fn offsets_normalize_to_utc(secs in 0i64..4_000_000_000, offset_min in -720i32..=840) {
        let received = "2024-01-01T00:00:00Z".parse().unwrap();
        let ts = jiff::Timestamp::from_second(secs).unwrap();
        let offset = jiff::tz::Offset::from_seconds(offset_min * 60).unwrap();
        let local = ts.to_zoned(jiff::tz::TimeZone::fixed(offset));
        let text = local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
        prop_assert_eq!(parse_str(&text, received), Some(ts));
    }
}
