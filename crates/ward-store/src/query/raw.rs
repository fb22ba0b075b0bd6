//! Field lookup in raw JSON bytes without parsing the whole event: the
//! search hot path reads only the fields a query names.
//!
//! Same answers as [`ward_event::Event::get`]: a key equal to the whole
//! path wins, then keys that are a dotted prefix of it, shortest first, are
//! descended into. Malformed JSON yields `None`. Nesting is bounded by
//! [`MAX_DEPTH`].

/// Deepest nesting the scanner follows.
pub const MAX_DEPTH: usize = 128;

/// The raw bytes of the value at `path` in the JSON object `json`.
pub fn find_path<'a>(json: &'a [u8], path: &str) -> Option<&'a [u8]> {
    find_in(json, path, 0)
}

fn find_in<'a>(json: &'a [u8], path: &str, depth: usize) -> Option<&'a [u8]> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut pos = skip_ws(json, 0);
    if json.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    let mut prefixes: Vec<(usize, &'a [u8], usize)> = Vec::new();
    loop {
        pos = skip_ws(json, pos);
        match json.get(pos)? {
            b'}' => break,
            b',' => {
                pos += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = skip_string(json, pos)?;
        let raw_key = &json[pos + 1..key_end - 1];
        pos = skip_ws(json, key_end);
        if json.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_ws(json, pos + 1);
        let value_end = skip_value(json, pos, depth)?;
        let value = &json[pos..value_end];
        // Keys without escapes are compared as bytes: no UTF-8 check needed
        // because the path is valid UTF-8 and only equal bytes match.
        let decoded;
        let key: &[u8] = if raw_key.contains(&b'\\') {
            decoded = serde_json::from_slice::<String>(&json[key_end - raw_key.len() - 2..key_end])
                .ok()?;
            decoded.as_bytes()
        } else {
            raw_key
        };
        let p = path.as_bytes();
        if key == p {
            return Some(value);
        }
        if p.len() > key.len()
            && p.starts_with(key)
            && p[key.len()] == b'.'
            && value.first() == Some(&b'{')
        {
            prefixes.push((key.len(), value, key.len() + 1));
        }
        pos = value_end;
    }
    prefixes.sort_by_key(|p| p.0);
    prefixes
        .into_iter()
        .find_map(|(_, value, rest)| find_in(value, &path[rest..], depth + 1))
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while let Some(c) = b.get(pos) {
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        pos += 1;
    }
    pos
}

/// End (exclusive) of the string starting at `pos` (which holds `"`).
fn skip_string(b: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        let rel = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        i += rel;
        if b[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// End (exclusive) of the value starting at `pos`.
fn skip_value(b: &[u8], pos: usize, depth: usize) -> Option<usize> {
    match b.get(pos)? {
        b'"' => skip_string(b, pos),
        b'{' | b'[' => {
            let mut level = 0usize;
            let mut i = pos;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => {
                        level += 1;
                        if depth + level > MAX_DEPTH {
                            return None;
                        }
                    }
                    b'}' | b']' => {
                        level -= 1;
                        if level == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = pos;
            while let Some(c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > pos).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ward_event::Event;

    #[test]
    fn finds_nested_and_dotted_keys() {
        let j = br#"{"a":1,"source":{"ip":"1.2.3.4","port":[1,{"x":"}"}]},"user.name":"al\"ice","b":{"c.d":{"e":true}}}"#;
        assert_eq!(find_path(j, "source.ip"), Some(&br#""1.2.3.4""#[..]));
        assert_eq!(find_path(j, "user.name"), Some(&br#""al\"ice""#[..]));
        assert_eq!(find_path(j, "b.c.d.e"), Some(&b"true"[..]));
        assert_eq!(find_path(j, "source.port"), Some(&br#"[1,{"x":"}"}]"#[..]));
        assert_eq!(find_path(j, "a"), Some(&b"1"[..]));
        assert_eq!(find_path(j, "source.missing"), None);
        assert_eq!(find_path(b"\"str\"", "a"), None);
        assert_eq!(find_path(b"{\"a\":", "a"), None);
    }

    proptest! {
        #[test]
        fn agrees_with_event_get(v in proptest::collection::btree_map("[ab.]{1,4}", prop_oneof![
            any::<i32>().prop_map(|n| serde_json::json!(n)),
            "[a-z]{0,4}".prop_map(|s| serde_json::json!(s)),
            proptest::collection::btree_map("[ab.]{1,3}", any::<bool>(), 0..3).prop_map(|m| serde_json::json!(m)),
        ], 0..5), path in "[ab.]{1,5}") {
            let bytes = serde_json::to_vec(&v).unwrap();
            let ev: Event = serde_json::from_slice(&bytes).unwrap();
            let want = ev.get(&path).cloned();
            let got = find_path(&bytes, &path).map(|s| serde_json::from_slice::<serde_json::Value>(s).unwrap());
            prop_assert_eq!(got, want);
        }
    }
}
