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

/// Candidate objects under keys that are a dotted prefix of the path; a
/// few live on the stack (the common case is one: `source` for
/// `source.ip`), more spill to the heap.
struct Prefixes<'a> {
    few: [(usize, &'a [u8], usize); 4],
    len: usize,
    more: Vec<(usize, &'a [u8], usize)>,
}

impl<'a> Prefixes<'a> {
    fn push(&mut self, p: (usize, &'a [u8], usize)) {
        if self.len < self.few.len() {
            self.few[self.len] = p;
            self.len += 1;
        } else {
            self.more.push(p);
        }
    }
}

fn find_in<'a>(json: &'a [u8], path: &str, depth: usize) -> Option<&'a [u8]> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut look = Lookup::new(path);
    let whole = walk_members(json, depth, &mut |m| look.member(m))?;
    look.finish(path, depth, whole)
}

/// One member of an object: its key as written (quotes included), whether
/// the key holds an escape, and the value's raw bytes.
#[derive(Clone, Copy)]
struct Member<'a> {
    quoted_key: &'a [u8],
    escaped: bool,
    value: &'a [u8],
}

/// Calls `f` with each member of the object `json`, in order, until it
/// returns `true`. `Some(true)` when every member was read and the object
/// closed, `Some(false)` when `f` stopped the walk early, `None` when
/// `json` is not an object or is malformed before `f` stopped.
fn walk_members<'a>(
    json: &'a [u8],
    depth: usize,
    f: &mut dyn FnMut(Member<'a>) -> bool,
) -> Option<bool> {
    let mut pos = skip_ws(json, 0);
    if json.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    loop {
        pos = skip_ws(json, pos);
        match json.get(pos)? {
            b'}' => return Some(true),
            b',' => {
                pos += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let (key_end, escaped) = skip_string(json, pos)?;
        let quoted_key = &json[pos..key_end];
        pos = skip_ws(json, key_end);
        if json.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_ws(json, pos + 1);
        let value_end = skip_value(json, pos, depth)?;
        let member = Member {
            quoted_key,
            escaped,
            value: &json[pos..value_end],
        };
        if f(member) {
            return Some(false);
        }
        pos = value_end;
    }
}

/// The search for one path among the members of one object: the member
/// whose key is the whole path wins at once; keys that are a dotted prefix
/// of it are kept to descend into once every member has been seen.
struct Lookup<'a, 'p> {
    path: &'p [u8],
    found: Option<&'a [u8]>,
    /// A key with an escape that does not decode: no answer.
    bad_key: bool,
    prefixes: Prefixes<'a>,
}

impl<'a, 'p> Lookup<'a, 'p> {
    fn new(path: &'p str) -> Self {
        Lookup {
            path: path.as_bytes(),
            found: None,
            bad_key: false,
            prefixes: Prefixes {
                few: [(0, &[], 0); 4],
                len: 0,
                more: Vec::new(),
            },
        }
    }

    /// Looks at one member; `true` when the search is decided.
    fn member(&mut self, m: Member<'a>) -> bool {
        // Keys without escapes are compared as bytes: no UTF-8 check needed
        // because the path is valid UTF-8 and only equal bytes match.
        let decoded;
        let key: &[u8] = if m.escaped {
            match serde_json::from_slice::<String>(m.quoted_key) {
                Ok(k) => {
                    decoded = k;
                    decoded.as_bytes()
                }
                Err(_) => {
                    self.bad_key = true;
                    return true;
                }
            }
        } else {
            &m.quoted_key[1..m.quoted_key.len() - 1]
        };
        let p = self.path;
        if key == p {
            self.found = Some(m.value);
            return true;
        }
        if p.len() > key.len()
            && p[key.len()] == b'.'
            && p.starts_with(key)
            && m.value.first() == Some(&b'{')
        {
            self.prefixes.push((key.len(), m.value, key.len() + 1));
        }
        false
    }

    /// The answer once the members were walked (`whole`: every one of
    /// them, the object well formed).
    fn finish(self, path: &str, depth: usize, whole: bool) -> Option<&'a [u8]> {
        if self.bad_key {
            return None;
        }
        if let Some(v) = self.found {
            return Some(v);
        }
        if !whole {
            return None;
        }
        let Prefixes { few, len, mut more } = self.prefixes;
        if more.is_empty() && len == 1 {
            let (_, value, rest) = few[0];
            return find_in(value, &path[rest..], depth + 1);
        }
        more.splice(0..0, few[..len].iter().copied());
        more.sort_by_key(|p| p.0);
        more.into_iter()
            .find_map(|(_, value, rest)| find_in(value, &path[rest..], depth + 1))
    }
}

/// The members of one JSON object, read once, for looking up several
/// paths in it ([`find_path`] reads the object again for each): a
/// document evaluated against a tenant's scope and a query, or counted by
/// a field, walks its top level once instead of once per field.
pub struct Members<'a> {
    members: Vec<Member<'a>>,
    /// Every member was read and the object closed.
    whole: bool,
}

impl<'a> Members<'a> {
    /// Reads the members of the object `json` (none if it is not one).
    pub fn of(json: &'a [u8]) -> Members<'a> {
        let mut members = Vec::with_capacity(16);
        let whole = walk_members(json, 0, &mut |m| {
            members.push(m);
            false
        }) == Some(true);
        Members { members, whole }
    }

    /// What [`find_path`] answers for `path` in the same object.
    pub fn find(&self, path: &str) -> Option<&'a [u8]> {
        let mut look = Lookup::new(path);
        if !self.members.iter().any(|m| look.member(*m)) && !self.whole {
            // Malformed after the last member read: as find_path, no answer
            // unless a member decided it before.
            return None;
        }
        look.finish(path, 0, self.whole)
    }
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

/// End (exclusive) of the string starting at `pos` (which holds `"`), and
/// whether it holds an escape.
///
/// Most strings in an event are short keys and values: the first 16 bytes
/// are checked 8 at a time in a `u64` (no call, no setup), the rest of a
/// long string with `memchr2`.
#[inline(always)]
fn skip_string(b: &[u8], pos: usize) -> Option<(usize, bool)> {
    let mut i = pos + 1;
    let mut escaped = false;
    let mut words = 0;
    while words < 2 {
        let Some(w) = word_at(b, i) else {
            break;
        };
        let m = quote_or_backslash(w);
        if m == 0 {
            i += 8;
            words += 1;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if b[j] == b'"' {
            return Some((j + 1, escaped));
        }
        escaped = true;
        i = j + 2;
    }
    loop {
        let rel = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        i += rel;
        if b[i] == b'\\' {
            escaped = true;
            i += 2;
        } else {
            return Some((i + 1, escaped));
        }
    }
}

/// The 8 bytes at `i` as a little-endian word, if there are 8.
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i.checked_add(8)?)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
        .map(u64::from_le_bytes)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that may equal `c`; the lowest set
/// byte is exact (borrows only flag bytes above a real match).
fn bytes_equal(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * u64::from(c));
    x.wrapping_sub(LO) & !x & HI
}

/// High bit set in each byte of `w` that may be `"` or `\`; the lowest
/// set byte is exact (borrows only flag bytes above a real match).
fn quote_or_backslash(w: u64) -> u64 {
    bytes_equal(w, b'"') | bytes_equal(w, b'\\')
}

/// End (exclusive) of the value starting at `pos`. Inside containers the
/// few bytes between strings are stepped over one by one (measured faster
/// here than searching them 8 at a time: the gaps are one or two bytes)
/// and strings are skipped by [`skip_string`].
fn skip_value(b: &[u8], pos: usize, depth: usize) -> Option<usize> {
    match b.get(pos)? {
        b'"' => skip_string(b, pos).map(|(end, _)| end),
        b'{' | b'[' => {
            let mut level = 0usize;
            let mut i = pos;
            while let Some(c) = b.get(i) {
                match c {
                    b'"' => {
                        i = skip_string(b, i)?.0;
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

    /// The word test agrees with a byte-by-byte search for every byte
    /// value at every position, also behind another match.
    #[test]
    fn word_tests_find_the_first_special_byte() {
        let naive = |bytes: &[u8; 8], set: &[u8]| bytes.iter().position(|c| set.contains(c));
        let first = |m: u64| (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
        for v in 0..=255u8 {
            for p in 0..8 {
                for behind in [None, Some(b'"'), Some(b']'), Some(0x80)] {
                    let mut bytes = [0xC3u8; 8];
                    bytes[p] = v;
                    if let (Some(x), true) = (behind, p < 7) {
                        bytes[p + 1] = x;
                    }
                    let w = u64::from_le_bytes(bytes);
                    assert_eq!(
                        first(quote_or_backslash(w)),
                        naive(&bytes, b"\"\\"),
                        "{bytes:?}"
                    );
                }
            }
        }
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

        /// Members read once answer every path as find_path does, on
        /// objects cut short or broken too.
        #[test]
        fn members_agree_with_find_path(v in proptest::collection::btree_map("[ab.\"\\\\]{1,4}", prop_oneof![
            any::<i32>().prop_map(|n| serde_json::json!(n)),
            "[a\"]{0,4}".prop_map(|s| serde_json::json!(s)),
            proptest::collection::btree_map("[ab.]{1,3}", any::<bool>(), 0..3).prop_map(|m| serde_json::json!(m)),
        ], 0..6), cut in 0usize..200, paths in proptest::collection::vec("[ab.\"\\\\]{1,5}", 1..4)) {
            let bytes = serde_json::to_vec(&v).unwrap();
            for body in [&bytes[..], &bytes[..cut.min(bytes.len())]] {
                let members = Members::of(body);
                for path in &paths {
                    prop_assert_eq!(members.find(path), find_path(body, path), "{:?} in {:?}", path, String::from_utf8_lossy(body));
                }
            }
        }

        /// Long strings and escapes (in keys and values) around the inline
        /// and `memchr` parts of the string skipper.
        #[test]
        fn agrees_with_event_get_on_escapes(v in proptest::collection::btree_map("[ab.\"\\\\]{1,30}", prop_oneof![
            "[a\"\\\\{}\\[\\] ]{0,60}".prop_map(|s| serde_json::json!(s)),
            proptest::collection::btree_map("[ab.\"]{1,3}", "[a\"\\\\]{0,40}", 0..3).prop_map(|m| serde_json::json!(m)),
        ], 0..5), path in "[ab.\"\\\\]{1,6}") {
            let bytes = serde_json::to_vec(&v).unwrap();
            let ev: Event = serde_json::from_slice(&bytes).unwrap();
            let want = ev.get(&path).cloned();
            let got = find_path(&bytes, &path).map(|s| serde_json::from_slice::<serde_json::Value>(s).unwrap());
            prop_assert_eq!(got, want);
        }
    }
}
