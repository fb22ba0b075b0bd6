#![no_main]
//! Binary `.evtx` reading on arbitrary bytes: every record or error comes
//! back (a damaged chunk never ends the process), and each record read goes
//! through source recognition as `ward detect` and ingest do. Seed corpus:
//! the `.evtx` files of SigmaHQ's regression data. Bytes that do not start
//! with the evtx magic are given it, so the fuzzer spends its time past
//! the header check.

use libfuzzer_sys::fuzz_target;
use ward_event::{Event, evtx, recognize};

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if !evtx::is_evtx(&bytes) {
        let mut with_magic = evtx::MAGIC.to_vec();
        with_magic.extend_from_slice(data);
        bytes = with_magic;
    }
    let _ = evtx::read(std::io::Cursor::new(bytes), |r| {
        if let Ok(r) = r {
            let mut e = Event(r.object);
            let _ = recognize::recognize(&mut e, None);
        }
    });
});
