//! Properties: no planted value survives at any depth (plain, inside JSON
//! carried in a string, inside a query string); redaction is idempotent;
//! every field that holds nothing sensitive keeps its place and value.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use ward_redact::{RedactConfig, Redactor};

/// Values every default detector must remove wherever they appear.
const PLANTED: &[&str] = &[
    "4242 4242 4242 4242",
    "5555555555554444",
    "123-45-6789",
    "alice.smith@example.com",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlXzEyMzQ1Njc4",
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-123456789012-abcdefghijKLMN",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "GB82WEST12345698765432",
    "+44 20 7946 0958",
    "glpat-abcdefghij0123456789",
];

const BENIGN_KEYS: &[&str] = &[
    "a", "user", "name", "message", "data", "items", "note", "detail", "status",
];
const SECRET_KEYS: &[&str] = &[
    "password",
    "api_key",
    "sessionToken",
    "client-secret",
    "Authorization",
];

#[derive(Debug, Clone)]
enum Leaf {
    /// Lowercase words: nothing any detector finds.
    Benign(String),
    /// A planted value in one of several carriers.
    Planted(usize, u8),
    /// A secret under a secret-named key: `(key, value)`.
    Named(usize, String),
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        "[a-z]{1,8}( [a-z]{1,8}){0,4}".prop_map(Leaf::Benign),
        (0..PLANTED.len(), 0u8..4).prop_map(|(i, c)| Leaf::Planted(i, c)),
        (0..SECRET_KEYS.len(), "[A-Za-z0-9]{6,12}")
            .prop_map(|(k, v)| Leaf::Named(k, format!("pw{v}"))),
    ]
}

fn render(leaf: &Leaf) -> (Option<&'static str>, Value) {
    match leaf {
        Leaf::Benign(s) => (None, Value::String(s.clone())),
        Leaf::Planted(i, carrier) => {
            let v = PLANTED[*i];
            let text = match carrier {
                0 => v.to_string(),
                1 => format!("note: {v} seen"),
                2 => json!({"inner": {"deep": format!("x {v} y")}, "ok": 1}).to_string(),
                _ => format!(
                    "https://example.com/cb?next=%2F&ref={}&page=2",
                    v.replace(' ', "+")
                ),
            };
            (None, Value::String(text))
        }
        Leaf::Named(_, v) => (None, Value::String(v.clone())),
    }
}

/// A tree: a list of (path, leaf); paths use benign keys, and a `Named` leaf
/// goes under its secret key.
fn tree() -> impl Strategy<Value = Vec<(Vec<usize>, Leaf)>> {
    prop::collection::vec(
        (prop::collection::vec(0..BENIGN_KEYS.len(), 1..6), leaf()),
        1..12,
    )
}

/// Where each leaf ended up: its key path and the leaf.
type Placed = Vec<(Vec<String>, Leaf)>;

fn build(items: &[(Vec<usize>, Leaf)]) -> (Map<String, Value>, Placed) {
    let mut root = Map::new();
    let mut placed = Vec::new();
    'items: for (path, leaf) in items {
        let mut keys: Vec<String> = path.iter().map(|&k| BENIGN_KEYS[k].to_string()).collect();
        if let Leaf::Named(k, _) = leaf {
            keys.push(SECRET_KEYS[*k].to_string());
        }
        let mut cur = &mut root;
        for k in &keys[..keys.len() - 1] {
            let next = cur
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match next {
                Value::Object(m) => cur = m,
                _ => continue 'items,
            }
        }
        let last = keys[keys.len() - 1].clone();
        if cur.contains_key(&last) {
            continue;
        }
        cur.insert(last, render(leaf).1);
        placed.push((keys, leaf.clone()));
    }
    (root, placed)
}

fn get<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nothing_planted_survives_and_the_rest_is_preserved(items in tree()) {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        let (mut ev, placed) = build(&items);
        let original = Value::Object(ev.clone());
        r.redact_event(&mut ev, b"prop-key");
        let out = Value::Object(ev.clone());
        let text = out.to_string();
        for p in PLANTED {
            prop_assert!(!text.contains(p), "{p} survived in {text}");
            prop_assert!(!text.contains(&p.replace(' ', "+")), "{p} survived in {text}");
        }
        for (path, leaf) in &placed {
            let got = get(&out, path);
            match leaf {
                Leaf::Benign(s) => prop_assert_eq!(got, Some(&Value::String(s.clone()))),
                Leaf::Named(_, v) => {
                    prop_assert!(got.is_some(), "field {path:?} was removed");
                    prop_assert!(!text.contains(v.as_str()));
                }
                Leaf::Planted(..) => prop_assert!(got.is_some_and(Value::is_string), "field {path:?} lost"),
            }
        }
        // Structure: every object of the original is still an object.
        for (path, _) in &placed {
            for depth in 1..path.len() {
                prop_assert!(get(&out, &path[..depth]).is_some_and(Value::is_object));
                prop_assert!(get(&original, &path[..depth]).is_some_and(Value::is_object));
            }
        }
        // Idempotence.
        let again = r.redact_event(&mut ev, b"prop-key");
        prop_assert!(again.is_empty(), "second pass found {again:?}");
        prop_assert_eq!(Value::Object(ev), out);
    }

    #[test]
    fn text_redaction_is_idempotent(words in prop::collection::vec(prop_oneof!["[a-z]{1,8}".prop_map(String::from), (0..PLANTED.len()).prop_map(|i| PLANTED[i].to_string())], 1..10)) {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        let line = words.join(" ");
        let (once, _) = r.redact_text(&line, b"k");
        let (twice, report) = r.redact_text(&once, b"k");
        prop_assert_eq!(&once, &twice);
        prop_assert!(report.is_empty());
        for p in PLANTED {
            prop_assert!(!once.contains(p), "{p} survived in {once}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        let (out, _) = r.redact_text(&s, b"k");
        let (again, _) = r.redact_text(&out, b"k");
        prop_assert_eq!(out, again);
    }
}

/// A line of a stream: a key header or footer, a key body line, or noise.
fn stream_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-----BEGIN PRIVATE KEY-----".to_string()),
        Just("app: -----BEGIN OPENSSH PRIVATE KEY-----".to_string()),
        Just("-----END PRIVATE KEY-----".to_string()),
        Just("MIIEowIBAAKCAQEAtK7mE0oJ6p0m6Tk0Hc2QvNQ2Hy7X3qLw8kXGvTgC9d2vQeJr".to_string()),
        "[A-Za-z0-9+/]{4,64}={0,2}",
        "[a-z :\"{}\\[\\]=-]{0,40}",
        "\\PC{0,30}",
    ]
}

proptest! {
    /// Over any sequence of lines: the masked ranges are ordered character
    /// ranges of the line; a block never outlives its line limit; feeding a
    /// masked line again in the same state changes nothing.
    #[test]
    fn key_block_tracker_stays_bounded_and_stable(
        lines in proptest::collection::vec(stream_line(), 0..60)
    ) {
        use ward_redact::{BlockLimits, BlockTracker};
        let limits = BlockLimits { max_lines: 5, ..BlockLimits::default() };
        let mut t = BlockTracker::with_limits(limits);
        let now = std::time::Instant::now();
        let mut open_for = 0;
        for line in &lines {
            let before = t.clone();
            let blocks = t.blocks();
            let ranges = t.feed(line, now);
            let mut last = 0;
            for r in &ranges {
                prop_assert!(r.start >= last && r.start <= r.end && r.end <= line.len());
                prop_assert!(line.is_char_boundary(r.start) && line.is_char_boundary(r.end));
                last = r.end;
            }
            let masked = before.clone().redact_line(line, now).into_owned();
            let mut again = before;
            prop_assert_eq!(again.redact_line(&masked, now).into_owned(), masked);
            // A new BEGIN (or first body line) starts a new block.
            open_for = match (t.in_block(), t.blocks() != blocks) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => open_for + 1,
            };
            prop_assert!(open_for <= limits.max_lines + 1);
        }
    }
}
