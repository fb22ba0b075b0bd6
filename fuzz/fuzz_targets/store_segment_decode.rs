//! Fuzzes the on-disk decoders: write-ahead frames, records, index terms,
//! and sealed segments (header, footer, index section, blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_store::format::{self, Frame, sealed};

fuzz_target!(|data: &[u8]| {
    let _ = format::decode_record(data);
    let _ = format::decode_terms(data);
    if let Frame::Ok { payload, .. } = format::parse_frame(data)
        && let Ok((terms, rec)) = format::split_payload(payload)
    {
        let _ = format::decode_terms(terms);
        let _ = format::decode_record(rec);
    }
    if let Ok((_, index)) = sealed::index_from_bytes(data) {
        for b in index.blocks.iter().take(4) {
            let (start, end) = (b.pos as usize, b.pos as usize + b.comp_len as usize);
            if let Some(comp) = data.get(start..end)
                && b.raw_len <= 1 << 20
                && let Ok(raw) = sealed::decompress_block(comp, b)
            {
                for (_, rec) in sealed::block_records(&raw) {
                    if let Ok(rec) = rec {
                        let _ = format::decode_record(rec);
                    }
                }
            }
        }
    }
    for (_, rec) in sealed::block_records(data) {
        if let Ok(rec) = rec {
            let _ = format::decode_record(rec);
        }
    }
});
