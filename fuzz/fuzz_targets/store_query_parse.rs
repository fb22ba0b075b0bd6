//! Fuzzes the search query parser: any input either parses or returns an
//! error whose position lies inside the query.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Err(e) = ward_store::query::parse(s)
    {
        assert!(e.position <= s.chars().count().max(ward_store::query::MAX_QUERY_LEN));
    }
});
