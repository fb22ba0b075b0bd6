//! Detection by value: finds secrets and personal data inside a string.
//!
//! Most bytes are looked at once or twice, never once per rule: one
//! Aho-Corasick automaton (leftmost-first, ASCII case-insensitive) finds every
//! literal anchor (`eyJ`, `ghp_`, `-----BEGIN`, `@`, `password`...), and each
//! anchor's verifier reads only the window after it; one digit scan finds
//! numeric candidates (cards, SSNs, phones, IBANs, NPI, DEA) and validates
//! them with check digits. Matches are spans into the input; overlaps are
//! resolved by keeping the earliest, then the longest. Spans of markers left
//! by an earlier redaction are protected, which makes redaction idempotent.

mod anchored;
mod assign;
pub(crate) mod keybody;
mod numeric;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::field::FieldNames;
use crate::kind::Kind;

/// One finding: a byte span of the scanned text and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// What was found; `None` for a protected marker of an earlier redaction.
    pub kind: Option<Kind>,
}

/// Per-call hints from the field being scanned.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanCtx {
    /// The field is a diagnosis field: every ICD-10-shaped token is a diagnosis.
    pub icd10_field: bool,
}

/// The compiled value detectors.
#[derive(Debug, Clone)]
pub struct Scanner {
    anchors: AhoCorasick,
}

/// Strings shorter than this cannot hold anything any detector finds.
const MIN_LEN: usize = 6;

impl Scanner {
    /// Compiles the anchor automaton.
    pub fn new() -> Result<Scanner, aho_corasick::BuildError> {
        let anchors = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .ascii_case_insensitive(true)
            .build(
                anchored::ANCHORS
                    .iter()
                    .map(|(lit, _)| *lit)
                    .chain(keybody::ANCHORS.iter().copied()),
            )?;
        Ok(Scanner { anchors })
    }

    /// Finds every non-overlapping hit in `text`, sorted by start.
    pub fn scan(&self, text: &str, names: &FieldNames, ctx: ScanCtx) -> Vec<Hit> {
        let mut hits = Vec::new();
        if text.len() < MIN_LEN && !ctx.icd10_field {
            return hits;
        }
        let bytes = text.as_bytes();
        if plain_words(bytes) && !ctx.icd10_field {
            return hits;
        }
        // Timestamps, addresses and plain numbers hold no anchor (every anchor
        // needs a letter or `@`): only the digit scan applies to them.
        let numeric_only = bytes.iter().all(|&b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b'.' | b':' | b'-' | b'+' | b'/' | b' ' | b'T' | b'Z' | b','
                )
        });
        let anchored = if numeric_only {
            None
        } else {
            Some(self.anchors.find_iter(bytes))
        };
        for m in anchored.into_iter().flatten() {
            let found = match anchored::ANCHORS.get(m.pattern().as_usize()) {
                Some((_, anchor)) => anchored::verify(*anchor, text, m.start(), m.end(), names),
                None => keybody::verify(bytes, m.start()),
            };
            if let Some(hit) = found {
                hits.push(hit);
            }
        }
        numeric::scan(bytes, ctx, &mut hits);
        resolve(hits)
    }
}

/// Short lowercase words (`checkout-api`, `http_request`, `success`): no
/// digit, capital, `@`, `:` or `=`, so no detector can match — every format
/// needs one of those or at least 32 bytes. Most ECS values are like this.
fn plain_words(bytes: &[u8]) -> bool {
    bytes.len() < 32
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase() || matches!(b, b'_' | b'-' | b' ' | b'.' | b'/' | b',')
        })
}

/// Sorts hits and drops every hit overlapping an earlier (or, at the same
/// start, longer) one. Protected markers stay in the list so that the caller
/// can skip them; they carry `kind: None`.
fn resolve(mut hits: Vec<Hit>) -> Vec<Hit> {
    if hits.len() < 2 {
        return hits;
    }
    // At equal spans a protected marker wins, then a specific kind (a
    // `github_token`) over the generic one its assignment name gave (`token`).
    let rank = |h: &Hit| match h.kind {
        None => 0,
        Some(k) if k.is_generic() => 2,
        Some(_) => 1,
    };
    hits.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(rank(a).cmp(&rank(b)))
    });
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        match out.last() {
            Some(last) if h.start < last.end => {}
            _ => out.push(h),
        }
    }
    out
}

/// Whether a value looks like a random secret rather than a word, a path or
/// an id: long enough, varied, with digits and letters, no spaces.
pub(crate) fn looks_random(v: &[u8]) -> bool {
    let uuid = v.len() == 36 && [8, 13, 18, 23].iter().all(|&i| v[i] == b'-');
    !uuid
        && v.len() >= 16
        && !v.iter().any(|b| b.is_ascii_whitespace() || *b == b'/')
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic)
        && crate::checks::entropy(v) >= 3.0
}

/// Byte classes shared by the verifiers.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Length of the run of bytes satisfying `pred` starting at `from`.
pub(crate) fn run_len(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(from..)
        .map_or(0, |s| s.iter().take_while(|&&b| pred(b)).count())
}

/// Whether the `window` bytes before `at` contain one of `labels` (ASCII,
/// case-insensitive). Used by detectors that need context to be sure.
pub(crate) fn label_before(bytes: &[u8], at: usize, window: usize, labels: &[&str]) -> bool {
    let from = at.saturating_sub(window);
    let mut buf = [0u8; 64];
    let src = &bytes[from..at];
    let n = src.len().min(buf.len());
    for (d, s) in buf.iter_mut().zip(&src[src.len() - n..]) {
        *d = s.to_ascii_lowercase();
    }
    let hay = &buf[..n];
    // Windows and labels are a few bytes: a plain search beats building a
    // searcher per call.
    labels.iter().any(|l| {
        let l = l.as_bytes();
        l.len() <= hay.len() && hay.windows(l.len()).any(|w| w[0] == l[0] && w == l)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, Kind)> {
        let s = Scanner::new().unwrap();
        let names = FieldNames::new(&[]).unwrap();
        s.scan(text, &names, ScanCtx::default())
            .into_iter()
            .filter_map(|h| h.kind.map(|k| (text[h.start..h.end].to_string(), k)))
            .collect()
    }

    #[test]
    fn resolve_keeps_earliest_longest() {
        let h = |start, end| Hit {
            start,
            end,
            kind: Some(Kind::Email),
        };
        let out = resolve(vec![h(5, 9), h(0, 6), h(0, 3), h(10, 12)]);
        assert_eq!(out, vec![h(0, 6), h(10, 12)]);
    }

    #[test]
    fn label_window() {
        assert!(label_before(b"my SSN: 123456789", 8, 40, &["ssn"]));
        assert!(!label_before(b"order 123456789", 6, 40, &["ssn"]));
    }

    #[test]
    fn finds_mixed_line() {
        let got = kinds("user bob@example.com paid with 4242 4242 4242 4242 from +44 20 7946 0958");
        assert_eq!(
            got,
            vec![
                ("bob@example.com".to_string(), Kind::Email),
                ("4242 4242 4242 4242".to_string(), Kind::Card),
                ("+44 20 7946 0958".to_string(), Kind::Phone)
            ]
        );
    }

    #[test]
    fn credential_header_schemes() {
        let guid = "8f2a61c4-1d3e-4b7a-9c2d-5e6f7a8b9c0d";
        let sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let spnego = "YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgI";
        let ntlm = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==";
        let md5 = "6629fae49393a05397450978507c4ef1";
        for (text, secret) in [
            (format!("Authorization: Splunk {guid}"), guid),
            (format!("hec post with Splunk {guid} failed"), guid),
            (
                format!("curl -H 'Authorization: Splunk {guid}' https://hec:8088"),
                guid,
            ),
            (format!("proxy sent Negotiate {spnego} to idp"), spnego),
            (format!("WWW-Authenticate: NTLM {ntlm}"), ntlm),
            (
                format!(
                    "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
                ),
                sig,
            ),
            (
                format!("GET /b/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={sig}"),
                sig,
            ),
            (
                format!(
                    r#"Digest username="bob", realm="x", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/", response="{md5}""#
                ),
                md5,
            ),
            (
                "Authorization: ApiKey c2VjcmV0LWtleS0xMjM0NTY3ODkw".to_string(),
                "c2VjcmV0LWtleS0xMjM0NTY3ODkw",
            ),
            (
                "Authorization: DPoP eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
                    .to_string(),
                "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
            ),
            (
                "Authorization: Token q8Zk2Lp0Xv7Rb4Nw9Hs1".to_string(),
                "q8Zk2Lp0Xv7Rb4Nw9Hs1",
            ),
            // Okta, Azure Storage, OAuth 1, Opsgenie, FCM legacy, Hawk, and
            // the proxy header.
            (
                "Authorization: SSWS 00QCjAl4MlV-WPXM2mG8r3vQ1tA7hK9xLz".to_string(),
                "00QCjAl4MlV-WPXM2mG8r3vQ1tA7hK9xLz",
            ),
            (
                "Authorization: SharedKey myaccount:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=".to_string(),
                "ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=",
            ),
            (
                r#"Authorization: OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D""#.to_string(),
                "tnnArxj06cWHq44gCs1OSKk%2FjLY%3D",
            ),
            (
                "Authorization: GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889".to_string(),
                "eb243592-faa2-4ba2-a551q-1afdf565c889",
            ),
            (
                "Authorization: key=AAAAqdV1hZk:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8".to_string(),
                "APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8",
            ),
            (
                r#"Authorization: Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=""#.to_string(),
                "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=",
            ),
            (
                "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_string(),
                "YWxhZGRpbjpvcGVuc2VzYW1l",
            ),
            (
                "X-Splunk-Request-Channel: 8f2a61c4-1d3e-4b7a-9c2d-5e6f7a8b9c0d x-ward-token: Zq8k2Lp0Xv7Rb4Nw9Hs1Tt".to_string(),
                "Zq8k2Lp0Xv7Rb4Nw9Hs1Tt",
            ),
        ] {
            let got = kinds(&text);
            assert!(
                got.iter().any(|(v, _)| v.contains(secret)),
                "{text}: {got:?}"
            );
        }
        for benign in [
            "Splunk Enterprise 9.1.2 started",
            "splunk forwarder-9.0.1-abc connected",
            "negotiate TLS 1.3 with peer",
            "response=200 in 12 ms",
            "response=6629fae49393a05397450978507c4ef1 cached",
            "signature=valid",
        ] {
            assert!(kinds(benign).is_empty(), "{benign}: {:?}", kinds(benign));
        }
    }

    #[test]
    fn markers_are_protected() {
        assert!(kinds("[HASH:email:4242424242424242] [REDACTED:password]").is_empty());
    }
}
