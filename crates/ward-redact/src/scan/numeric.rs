//! Numeric detectors: payment cards, SSNs, phone numbers, NPI, IBAN, DEA and
//! ICD-10 codes, found by one scan for digits.
//!
//! A candidate is a run of digit groups joined by single separators (space,
//! `-`, `.`) with an optional leading `+` or `(area)`. It must stand alone:
//! digits glued to letters (hex hashes, UUIDs, ids) or following `x.`/`x-`
//! (versions, dates) are skipped. Shapes that are unambiguous (a Luhn-valid
//! card in a real issuer range, `123-45-6789`, `+44 20 7946 0958`,
//! `(555) 123-4567`) need no context; bare digit strings that could be
//! anything (nine digits for an SSN, ten for an NPI or a phone) need a label
//! such as `ssn`, `npi` or `phone` just before them.

use super::{Hit, ScanCtx, is_word, label_before};
use crate::checks;
use crate::kind::Kind;

/// Most digit groups in one candidate; longer runs are not numbers people write.
const MAX_GROUPS: usize = 24;
/// How far back a label may be.
const LABEL_WINDOW: usize = 32;

const SSN_LABELS: &[&str] = &[
    "ssn",
    "social security",
    "social_security",
    "social-security",
    "ss#",
    "ss no",
];
const NPI_LABELS: &[&str] = &["npi"];
const PHONE_LABELS: &[&str] = &[
    "phone", "tel", "mobile", "cell", "fax", "sms", "call", "whatsapp", "contact",
];
const DX_LABELS: &[&str] = &["diagnos", "icd", "dx"];

#[derive(Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    /// Separator before this group (0 for the first).
    sep: u8,
    /// Written as `(123)`.
    paren: bool,
}

/// Appends numeric hits in `bytes` to `out`.
pub fn scan(bytes: &[u8], ctx: ScanCtx, out: &mut Vec<Hit>) {
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(u8::is_ascii_digit) {
        let d = i + off;
        let prev = d.checked_sub(1).map(|p| bytes[p]);
        let prev2 = d.checked_sub(2).map(|p| bytes[p]);
        if prev.is_some_and(|b| b.is_ascii_uppercase())
            && let Some(h) = lettered(bytes, d, ctx)
        {
            out.push(h);
            i = h.end;
            continue;
        }
        let glued = prev.is_some_and(is_word)
            || (matches!(prev, Some(b'.' | b'-' | b'/' | b','))
                && prev2.is_some_and(|b| b.is_ascii_alphanumeric()));
        if glued {
            // A word with digits may be a Twilio key (`SK` + 32 hex); it is
            // checked here, once per such word, rather than by searching every
            // string for the common pair `SK`.
            let mut ws = d;
            while ws > 0 && d - ws < 34 && bytes[ws - 1].is_ascii_alphanumeric() {
                ws -= 1;
            }
            if bytes.get(ws..ws + 2) == Some(b"SK")
                && let Some(h) = super::anchored::twilio(bytes, ws)
            {
                out.push(h);
                i = h.end;
                continue;
            }
            i = d + super::run_len(bytes, d, |b| is_word(b) || b == b'.' || b == b'-');
            continue;
        }
        let (groups, n, end) = parse_groups(bytes, d);
        i = end.max(d + 1);
        if n == 0 {
            continue;
        }
        if bytes.get(end).is_some_and(|&b| is_word(b)) {
            i = end + super::run_len(bytes, end, is_word);
            continue;
        }
        let plus = prev == Some(b'+') && !prev2.is_some_and(|b| b.is_ascii_alphanumeric());
        let start = if plus {
            d - 1
        } else {
            groups[0].start - usize::from(groups[0].paren)
        };
        classify_all(bytes, &groups[..n], start, plus, out);
    }
}

/// Reads digit groups from `d`; returns the groups, their count and the end.
fn parse_groups(bytes: &[u8], d: usize) -> ([Group; MAX_GROUPS], usize, usize) {
    let mut groups = [Group {
        start: 0,
        end: 0,
        sep: 0,
        paren: false,
    }; MAX_GROUPS];
    let mut n = 0;
    let mut p = d;
    let mut sep = 0u8;
    loop {
        let paren = p > 0 && bytes[p - 1] == b'(' && (n > 0 || p == d);
        let len = super::run_len(bytes, p, |b| b.is_ascii_digit());
        if len == 0 || len > 19 || n == MAX_GROUPS {
            // End the run before this group; a group too long to be part of
            // any number is skipped by the caller's next step.
            return match n {
                0 => (groups, 0, p + len),
                _ => (groups, n, groups[n - 1].end),
            };
        }
        groups[n] = Group {
            start: p,
            end: p + len,
            sep,
            paren,
        };
        n += 1;
        p += len;
        if paren {
            if bytes.get(p) != Some(&b')') {
                return (groups, 0, p);
            }
            p += 1;
            let s = bytes.get(p).copied();
            if matches!(s, Some(b' ' | b'-')) && bytes.get(p + 1).is_some_and(u8::is_ascii_digit) {
                sep = s.unwrap_or(b' ');
                p += 1;
                continue;
            }
            if bytes.get(p).is_some_and(u8::is_ascii_digit) {
                sep = b')';
                continue;
            }
            return (groups, n, p);
        }
        match (bytes.get(p), bytes.get(p + 1), bytes.get(p + 2)) {
            // `+` and `%20` are spaces in URL query strings.
            (Some(&s @ (b' ' | b'-' | b'.' | b'+')), Some(b), _) if b.is_ascii_digit() => {
                sep = if s == b'+' { b' ' } else { s };
                p += 1;
            }
            (Some(b'%'), Some(b'2'), Some(b'0'))
                if bytes.get(p + 3).is_some_and(u8::is_ascii_digit) =>
            {
                sep = b' ';
                p += 3;
            }
            (Some(b' '), Some(b'('), Some(b)) if b.is_ascii_digit() => {
                sep = b' ';
                p += 2;
            }
            _ => return (groups, n, p),
        }
    }
}

/// Tries the whole run, then shorter runs cut at spaces (a card number
/// written after another number, two numbers side by side), longest first;
/// what is left on either side of a match is tried again.
fn classify_all(bytes: &[u8], groups: &[Group], start: usize, plus: bool, out: &mut Vec<Hit>) {
    let total: usize = groups.iter().map(|g| g.end - g.start).sum();
    // No kind has fewer than 7 digits; most candidates (times, counts,
    // ports) end here.
    if total < 7 {
        return;
    }
    if let Some(kind) = classify(bytes, groups, start, plus) {
        out.push(Hit {
            start,
            end: groups[groups.len() - 1].end,
            kind: Some(kind),
        });
        return;
    }
    let n = groups.len();
    let mut prefix = [0usize; MAX_GROUPS + 1];
    for (i, g) in groups.iter().enumerate() {
        prefix[i + 1] = prefix[i] + (g.end - g.start);
    }
    for len in (1..n).rev() {
        for a in 0..=n - len {
            let b = a + len;
            // No kind has fewer than 7 or more than 19 digits.
            if !(7..=19).contains(&(prefix[b] - prefix[a])) {
                continue;
            }
            let cut_ok = (a == 0 || is_space(groups[a].sep)) && (b == n || is_space(groups[b].sep));
            if !cut_ok {
                continue;
            }
            let sub = &groups[a..b];
            let sub_plus = a == 0 && plus;
            let s = if a == 0 {
                start
            } else {
                sub[0].start - usize::from(sub[0].paren)
            };
            if let Some(kind) = classify(bytes, sub, s, sub_plus) {
                out.push(Hit {
                    start: s,
                    end: sub[len - 1].end,
                    kind: Some(kind),
                });
                if a > 0 {
                    classify_all(bytes, &groups[..a], start, plus, out);
                }
                if b < n {
                    let rest = &groups[b..];
                    classify_all(
                        bytes,
                        rest,
                        rest[0].start - usize::from(rest[0].paren),
                        false,
                        out,
                    );
                }
                return;
            }
        }
    }
}

/// Separators that may split two numbers written side by side.
fn is_space(sep: u8) -> bool {
    matches!(sep, b' ' | b'+' | b'%')
}

fn classify(bytes: &[u8], groups: &[Group], start: usize, plus: bool) -> Option<Kind> {
    let mut digits = [0u8; MAX_GROUPS * 19];
    if groups.len() > MAX_GROUPS {
        return None;
    }
    let mut n = 0;
    for g in groups {
        let len = g.end - g.start;
        digits[n..n + len].copy_from_slice(&bytes[g.start..g.end]);
        n += len;
    }
    let digits = &digits[..n];
    let mut lens_buf = [0usize; MAX_GROUPS];
    let mut seps_buf = [0u8; MAX_GROUPS];
    for (i, g) in groups.iter().enumerate() {
        lens_buf[i] = g.end - g.start;
        seps_buf[i] = g.sep;
    }
    let lens = &lens_buf[..groups.len()];
    let seps = &seps_buf[1..groups.len().max(1)];
    let uniform = seps.windows(2).all(|w| w[0] == w[1]);
    let sep = seps.first().copied().unwrap_or(0);
    let paren = groups.iter().any(|g| g.paren);
    let label = |labels: &[&str]| label_before(bytes, start, LABEL_WINDOW, labels);

    if plus {
        return ((8..=15).contains(&n) && digits[0] != b'0').then_some(Kind::Phone);
    }
    if !paren
        && uniform
        && matches!(sep, 0 | b' ' | b'-')
        && (13..=19).contains(&n)
        && (lens.len() == 1 || lens.iter().all(|&l| l >= 3))
        && checks::card(digits)
    {
        return Some(Kind::Card);
    }
    if !paren
        && uniform
        && matches!(sep, b'-' | b' ')
        && lens == [3, 2, 4]
        && checks::ssn(&digits[..3], &digits[3..5], &digits[5..])
    {
        return Some(Kind::Ssn);
    }
    if lens == [9] && checks::ssn(&digits[..3], &digits[3..5], &digits[5..]) && label(SSN_LABELS) {
        return Some(Kind::Ssn);
    }
    if lens == [10] && checks::npi(digits) && label(NPI_LABELS) {
        return Some(Kind::Npi);
    }
    let nanp =
        |d: &[u8]| d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3]);
    if paren && lens == [3, 3, 4] && nanp(digits) {
        return Some(Kind::Phone);
    }
    if !paren && uniform && matches!(sep, b'-' | b'.' | b' ') && lens == [3, 3, 4] && nanp(digits) {
        return Some(Kind::Phone);
    }
    if !paren
        && uniform
        && matches!(sep, b'-' | b'.' | b' ')
        && lens == [1, 3, 3, 4]
        && digits[0] == b'1'
        && nanp(&digits[1..])
    {
        return Some(Kind::Phone);
    }
    let national = ((9..=12).contains(&n) && digits[0] == b'0') || (10..=11).contains(&n);
    if national && lens.len() <= 4 && label(PHONE_LABELS) {
        return Some(Kind::Phone);
    }
    None
}

/// Candidates that start with letters: IBAN (`GB82 WEST ...`), DEA
/// (`AB1234563`), ICD-10 (`E11.9` after a diagnosis label or in a diagnosis
/// field). `d` is the first digit, preceded by an uppercase letter.
fn lettered(bytes: &[u8], d: usize, ctx: ScanCtx) -> Option<Hit> {
    let boundary = |at: usize| at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    if d >= 2 && bytes[d - 2].is_ascii_uppercase() && boundary(d - 2) {
        let s = d - 2;
        if let Some(len) = checks::iban_length(&bytes[s..d])
            && let Some(h) = iban(bytes, s, len)
        {
            return Some(h);
        }
        let n = super::run_len(bytes, d, |b| b.is_ascii_digit());
        if n == 7 && !bytes.get(d + 7).is_some_and(|&b| is_word(b)) && checks::dea(&bytes[s..d + 7])
        {
            return Some(Hit {
                start: s,
                end: d + 7,
                kind: Some(Kind::Dea),
            });
        }
    }
    let s = d - 1;
    if boundary(s) {
        let n = super::run_len(bytes, s, |b| b.is_ascii_alphanumeric() || b == b'.');
        let mut end = s + n;
        if end > s && bytes[end - 1] == b'.' {
            end -= 1;
        }
        if checks::icd10(&bytes[s..end])
            && !bytes.get(end).is_some_and(|&b| is_word(b))
            && (ctx.icd10_field || label_before(bytes, s, LABEL_WINDOW, DX_LABELS))
        {
            return Some(Hit {
                start: s,
                end,
                kind: Some(Kind::Icd10),
            });
        }
    }
    None
}

/// Reads `len` alphanumerics from `s`, allowing single spaces between groups.
fn iban(bytes: &[u8], s: usize, len: usize) -> Option<Hit> {
    let mut buf = [0u8; 34];
    let mut got = 0;
    let mut p = s;
    while got < len && p < bytes.len() {
        let b = bytes[p];
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            buf[got] = b;
            got += 1;
            p += 1;
        } else if b == b' '
            && got % 4 == 0
            && bytes.get(p + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            p += 1;
        } else {
            return None;
        }
    }
    let end_ok = got == len && !bytes.get(p).is_some_and(|&b| is_word(b));
    (end_ok && checks::iban(&buf[..len])).then_some(Hit {
        start: s,
        end: p,
        kind: Some(Kind::Iban),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, Kind)> {
        let mut out = Vec::new();
        scan(text.as_bytes(), ScanCtx::default(), &mut out);
        out.into_iter()
            .map(|h| (text[h.start..h.end].to_string(), h.kind.unwrap()))
            .collect()
    }

    #[test]
    fn positives() {
        let cases = [
            (
                "card 4242-4242-4242-4242 ok",
                "4242-4242-4242-4242",
                Kind::Card,
            ),
            ("amex 3782 822463 10005.", "3782 822463 10005", Kind::Card),
            ("ssn 123-45-6789", "123-45-6789", Kind::Ssn),
            ("SSN: 123456789", "123456789", Kind::Ssn),
            ("call (555) 234-5678 now", "(555) 234-5678", Kind::Phone),
            ("tel +1 555 234 5678", "+1 555 234 5678", Kind::Phone),
            ("at 555.234.5678", "555.234.5678", Kind::Phone),
            ("npi=1234567893", "1234567893", Kind::Npi),
            (
                "iban GB82 WEST 1234 5698 7654 32 paid",
                "GB82 WEST 1234 5698 7654 32",
                Kind::Iban,
            ),
            (
                "to DE89370400440532013000",
                "DE89370400440532013000",
                Kind::Iban,
            ),
            ("dea AB1234563", "AB1234563", Kind::Dea),
            ("diagnosis: E11.9", "E11.9", Kind::Icd10),
            (
                "order 12 4111 1111 1111 1111",
                "4111 1111 1111 1111",
                Kind::Card,
            ),
        ];
        for (text, want, kind) in cases {
            assert_eq!(found(text), vec![(want.to_string(), kind)], "{text}");
        }
    }

    #[test]
    fn negatives() {
        for text in [
            "id 123456789 done",
            "ts 1732312345 ms 1732312345123",
            "2024-11-22T10:00:00Z",
            "ip 10.0.0.1 and 192.168.100.200",
            "v1.2.3-456",
            "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "uuid 123e4567-e89b-12d3-a456-426614174000",
            "card 4242424242424241",
            "ssn 666-45-6789",
            "order ORD-4111111111111111",
            "E11.9 alone",
            "AB1234564",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}
