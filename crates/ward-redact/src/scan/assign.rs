//! `name=value`, `name: value` and `"name": "value"` in free text (query
//! strings, config dumps, JSON that did not parse, escaped JSON in a log
//! line). The name is classified by the same rules as event field names, so
//! `password_changed=true` is left alone while `db_password=hunter2` is not.

use super::Hit;
use crate::field::{FieldNames, FieldRule, normalize};
use crate::kind::Kind;

/// Longest name and value considered.
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 4096;

fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Values that are clearly not secrets.
fn placeholder(v: &[u8]) -> bool {
    v.is_empty()
        || [
            &b"null"[..],
            b"true",
            b"false",
            b"none",
            b"undefined",
            b"nil",
        ]
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p))
        || v == b"?"
        || (v[0] == b':'
            && v.len() > 1
            && v[1..]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_'))
        || matches!(v[0], b'{' | b'[' | b'$' | b'%' | b'<')
}

/// Verifies an assignment around the anchor at `s..e`.
pub fn verify(text: &str, s: usize, e: usize, names: &FieldNames) -> Option<Hit> {
    let bytes = text.as_bytes();
    let mut left = s;
    while left > 0 && s - left < MAX_NAME && ident(bytes[left - 1]) {
        left -= 1;
    }
    while left < s && matches!(bytes[left], b'-' | b'.') {
        left += 1;
    }
    let mut right = e;
    while right < bytes.len() && right - left < MAX_NAME && ident(bytes[right]) {
        right += 1;
    }
    let name = normalize(text.get(left..right)?);
    let kind = match names.classify_normalized(&name)? {
        FieldRule::Whole(kind) => (kind, false),
        FieldRule::Weak(kind) => (kind, true),
        FieldRule::Icd10 => return None,
    };
    let (kind, weak) = kind;
    let mut p = right;
    let skip_quote = |p: &mut usize| {
        if bytes.get(*p) == Some(&b'\\') && bytes.get(*p + 1) == Some(&b'"') {
            *p += 2;
        } else if matches!(bytes.get(*p), Some(b'"' | b'\'')) {
            *p += 1;
        }
    };
    let skip_ws = |p: &mut usize| {
        while matches!(bytes.get(*p), Some(b' ' | b'\t')) {
            *p += 1;
        }
    };
    skip_quote(&mut p);
    let before_ws = p;
    skip_ws(&mut p);
    match bytes.get(p) {
        Some(b'=') => {
            p += if bytes.get(p + 1) == Some(&b'>') {
                2
            } else {
                1
            }
        }
        Some(b':') => {
            p += if bytes.get(p + 1) == Some(&b'=') {
                2
            } else {
                1
            }
        }
        Some(b'#') if matches!(kind, Kind::Mrn | Kind::Ssn | Kind::Npi) => p += 1,
        Some(_) if p > before_ws && matches!(kind, Kind::Mrn) => {}
        // Command-line flags: `--password hunter2`, `-p hunter2` is too ambiguous.
        Some(_) if p > before_ws && left >= 2 && &bytes[left - 2..left] == b"--" => {}
        _ => return None,
    }
    skip_ws(&mut p);
    let (v0, v1) = value_span(bytes, p, kind)?;
    let (v0, v1) = strip_scheme(bytes, v0, v1, kind);
    let value = &bytes[v0..v1];
    if placeholder(value) {
        return None;
    }
    if weak && !super::looks_random(value) {
        return None;
    }
    if kind == Kind::Mrn && !value.iter().any(u8::is_ascii_digit) {
        return None;
    }
    Some(Hit {
        start: v0,
        end: v1,
        kind: Some(kind),
    })
}

/// The value's span starting at `p`: quoted (plain or JSON-escaped quotes) or
/// up to a delimiter. Cookies and authorization headers run to the line end.
fn value_span(bytes: &[u8], p: usize, kind: Kind) -> Option<(usize, usize)> {
    let rest = bytes.get(p..)?;
    let limit = rest.len().min(MAX_VALUE);
    if rest.starts_with(b"\\\"") {
        let end = memchr::memmem::find(&rest[2..limit], b"\\\"").unwrap_or(limit - 2);
        return Some((p + 2, p + 2 + end));
    }
    if let Some(&q) = rest.first().filter(|q| matches!(q, b'"' | b'\'')) {
        let mut i = 1;
        while i < limit && rest[i] != q {
            i += if rest[i] == b'\\' { 2 } else { 1 };
        }
        return Some((p + 1, p + i.min(limit)));
    }
    let whole_line = matches!(kind, Kind::Cookie | Kind::Authorization);
    if whole_line {
        let n = header_value_len(&rest[..limit]);
        let mut end = p + n;
        while end > p && matches!(bytes[end - 1], b' ' | b'.' | b'\t') {
            end -= 1;
        }
        return Some((p, end));
    }
    let n = rest[..limit]
        .iter()
        .position(|&b| {
            b.is_ascii_whitespace()
                || matches!(
                    b,
                    b'&' | b',' | b';' | b'"' | b'\'' | b'<' | b'>' | b')' | b']' | b'}'
                )
        })
        .unwrap_or(limit);
    let mut end = p + n;
    while end > p && matches!(bytes[end - 1], b' ' | b'.' | b'\t') {
        end -= 1;
    }
    Some((p, end))
}

/// Length of a header value that runs to the line end: a quote ends it (the
/// header sat inside a JSON string), except a quoted auth-param after `=`
/// (`Digest response="…"`, `OAuth oauth_signature="…"`, `Hawk mac="…"`),
/// which is read to its closing quote and the value goes on.
fn header_value_len(rest: &[u8]) -> usize {
    let line = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &rest[i..line]) {
        let at = i + q;
        if at == 0 || rest[at - 1] != b'=' {
            return at;
        }
        // An auth-param's quoted value: skip to its closing quote, or to
        // the line end if it has none.
        match memchr::memchr(b'"', &rest[at + 1..line]) {
            Some(j) => i = at + 1 + j + 1,
            None => return line,
        }
    }
    line
}

/// Keeps an authorization scheme (`Bearer`, `Basic`...) readable.
fn strip_scheme(bytes: &[u8], v0: usize, v1: usize, kind: Kind) -> (usize, usize) {
    if !matches!(kind, Kind::Authorization | Kind::Token) {
        return (v0, v1);
    }
    let value = &bytes[v0..v1];
    for scheme in [
        &b"bearer "[..],
        b"basic ",
        b"digest ",
        b"token ",
        b"negotiate ",
        b"ntlm ",
        b"splunk ",
        b"apikey ",
        b"dpop ",
        b"aws4-hmac-sha256 ",
    ] {
        if value.len() > scheme.len() && value[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return (v0 + scheme.len(), v1);
        }
    }
    (v0, v1)
}

#[cfg(test)]
mod tests {
    use super::super::{ScanCtx, Scanner};
    use crate::field::FieldNames;

    fn found(text: &str) -> Vec<String> {
        let s = Scanner::new().unwrap();
        let names = FieldNames::new(&[]).unwrap();
        s.scan(text, &names, ScanCtx::default())
            .into_iter()
            .filter(|h| h.kind.is_some())
            .map(|h| text[h.start..h.end].to_string())
            .collect()
    }

    #[test]
    fn assignments() {
        assert_eq!(
            found("GET /login?user=bob&password=hunter2&next=/"),
            vec!["hunter2"]
        );
        assert_eq!(
            found(r#"cfg {"db_password": "s3cr3t!"} loaded"#),
            vec!["s3cr3t!"]
        );
        assert_eq!(
            found(r#"body={\"client_secret\":\"abc def\"}"#),
            vec!["abc def"]
        );
        assert_eq!(
            found("Authorization: Digest username=x, response=y"),
            vec!["username=x, response=y"]
        );
        assert_eq!(found("api_key=q8Zk2Lp0Xv7Rb4Nw"), vec!["q8Zk2Lp0Xv7Rb4Nw"]);
        assert_eq!(
            found("key=q8Zk2Lp0Xv7Rb4Nw9Hs1"),
            vec!["q8Zk2Lp0Xv7Rb4Nw9Hs1"]
        );
        assert_eq!(found("patient MRN: 00482913 admitted"), vec!["00482913"]);
    }

    #[test]
    fn not_assignments() {
        for t in [
            "password_changed=true",
            "token_count=12 max_tokens=4096",
            "event.action=password_reset",
            "key=user-profile",
            "cache key=users/42/profile.json",
            "the password is required",
            "password=null",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
