//! Detectors anchored on a literal: the anchor table and one verifier per
//! anchor. A verifier looks only at the bytes around its anchor and returns
//! the span of the secret, never more than the secret (a `Bearer ` scheme or
//! a URL's host stay readable).

use super::{Hit, assign, is_word, run_len};
use crate::field::FieldNames;
use crate::kind::Kind;

/// What an anchor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Marker,
    Jwt,
    Bearer,
    Basic,
    Url,
    Email,
    Pem,
    Aws,
    GoogleKey,
    AzureKey,
    Sas,
    Github,
    GithubPat,
    Gitlab,
    Slack,
    SlackWebhook,
    Stripe,
    SkDash,
    Sendgrid,
    HuggingFace,
    Npm,
    Pypi,
    Splunk,
    Negotiate,
    SigV4,
    DigestResponse,
    Assign,
}

/// Anchors, matched ASCII case-insensitively; at one position the first
/// listed wins, so longer literals come before their prefixes.
pub const ANCHORS: &[(&str, Anchor)] = &[
    ("[redacted:", Anchor::Marker),
    ("[hash:", Anchor::Marker),
    ("[card:", Anchor::Marker),
    ("[iban:", Anchor::Marker),
    ("eyJ", Anchor::Jwt),
    ("bearer", Anchor::Bearer),
    ("basic", Anchor::Basic),
    ("://", Anchor::Url),
    ("@", Anchor::Email),
    ("-----begin", Anchor::Pem),
    ("akia", Anchor::Aws),
    ("asia", Anchor::Aws),
    ("agpa", Anchor::Aws),
    ("aida", Anchor::Aws),
    ("aroa", Anchor::Aws),
    ("aipa", Anchor::Aws),
    ("anpa", Anchor::Aws),
    ("anva", Anchor::Aws),
    ("aiza", Anchor::GoogleKey),
    ("accountkey=", Anchor::AzureKey),
    ("sig=", Anchor::Sas),
    ("ghp_", Anchor::Github),
    ("gho_", Anchor::Github),
    ("ghs_", Anchor::Github),
    ("ghu_", Anchor::Github),
    ("ghr_", Anchor::Github),
    ("github_pat_", Anchor::GithubPat),
    ("glpat-", Anchor::Gitlab),
    ("glptt-", Anchor::Gitlab),
    ("gldt-", Anchor::Gitlab),
    ("glrt-", Anchor::Gitlab),
    ("gloas-", Anchor::Gitlab),
    ("xox", Anchor::Slack),
    ("hooks.slack.com/", Anchor::SlackWebhook),
    ("sk_live_", Anchor::Stripe),
    ("rk_live_", Anchor::Stripe),
    ("sk_test_", Anchor::Stripe),
    ("rk_test_", Anchor::Stripe),
    ("sk-", Anchor::SkDash),
    ("sg.", Anchor::Sendgrid),
    ("hf_", Anchor::HuggingFace),
    ("npm_", Anchor::Npm),
    ("pypi-", Anchor::Pypi),
    ("splunk ", Anchor::Splunk),
    ("negotiate ", Anchor::Negotiate),
    ("ntlm ", Anchor::Negotiate),
    ("signature=", Anchor::SigV4),
    ("response=", Anchor::DigestResponse),
    ("pass", Anchor::Assign),
    ("pwd", Anchor::Assign),
    ("secret", Anchor::Assign),
    ("token", Anchor::Assign),
    ("key", Anchor::Assign),
    ("auth", Anchor::Assign),
    ("cookie", Anchor::Assign),
    ("credential", Anchor::Assign),
    ("ssn", Anchor::Assign),
    ("mrn", Anchor::Assign),
    ("npi", Anchor::Assign),
    ("sess", Anchor::Assign),
    ("cvv", Anchor::Assign),
    ("cvc", Anchor::Assign),
    ("medical", Anchor::Assign),
];

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// No word byte (or `-`) right before `s`.
fn starts_word(bytes: &[u8], s: usize) -> bool {
    s == 0 || !(is_word(bytes[s - 1]) || bytes[s - 1] == b'-')
}

/// No word byte right after `e`.
fn ends_word(bytes: &[u8], e: usize) -> bool {
    bytes.get(e).is_none_or(|&b| !is_word(b))
}

fn hit(start: usize, end: usize, kind: Kind) -> Option<Hit> {
    Some(Hit {
        start,
        end,
        kind: Some(kind),
    })
}

/// Runs the verifier for `anchor` matched at `s..e`.
pub fn verify(anchor: Anchor, text: &str, s: usize, e: usize, names: &FieldNames) -> Option<Hit> {
    let bytes = text.as_bytes();
    let lit = &bytes[s..e];
    match anchor {
        Anchor::Marker => marker(bytes, s, e),
        Anchor::Jwt => jwt(bytes, s),
        Anchor::Bearer => scheme_token(bytes, s, e, Kind::BearerToken),
        Anchor::Basic => scheme_token(bytes, s, e, Kind::BasicAuth),
        Anchor::Url => url_credentials(bytes, e),
        Anchor::Email => email(bytes, s),
        Anchor::Pem => pem(text, s, e),
        Anchor::Aws => {
            let n = run_len(bytes, e, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (lit.iter().all(u8::is_ascii_uppercase)
                && n == 16
                && starts_word(bytes, s)
                && ends_word(bytes, e + n))
            .then_some(())
            .and_then(|()| hit(s, e + n, Kind::AwsAccessKeyId))
        }
        Anchor::GoogleKey => fixed_tail(
            bytes,
            s,
            e,
            lit == b"AIza",
            35,
            35,
            b64url,
            Kind::GoogleApiKey,
        ),
        Anchor::AzureKey => {
            let n = run_len(bytes, e, b64);
            let pad = run_len(bytes, e + n, |b| b == b'=');
            (n + pad >= 40)
                .then_some(())
                .and_then(|()| hit(e, e + n + pad, Kind::AzureStorageKey))
        }
        Anchor::Sas => {
            let before_ok =
                s == 0 || matches!(bytes[s - 1], b'&' | b'?' | b';' | b' ' | b'"' | b'\'');
            let n = run_len(bytes, e, |b| b64(b) || b == b'%' || b == b'=');
            (before_ok && n >= 20)
                .then_some(())
                .and_then(|()| hit(e, e + n, Kind::AzureSasToken))
        }
        Anchor::Github => fixed_tail(
            bytes,
            s,
            e,
            lit.iter().all(|b| !b.is_ascii_uppercase()),
            36,
            255,
            |b| b.is_ascii_alphanumeric(),
            Kind::GithubToken,
        ),
        Anchor::GithubPat => fixed_tail(
            bytes,
            s,
            e,
            lit == b"github_pat_",
            22,
            255,
            is_word,
            Kind::GithubToken,
        ),
        Anchor::Gitlab => fixed_tail(
            bytes,
            s,
            e,
            lit.iter().all(|b| !b.is_ascii_uppercase()),
            20,
            300,
            |b| b64url(b) || b == b'.',
            Kind::GitlabToken,
        ),
        Anchor::Slack => slack(bytes, s, e),
        Anchor::SlackWebhook => slack_webhook(bytes, s, e),
        Anchor::Stripe => fixed_tail(
            bytes,
            s,
            e,
            lit.iter().all(|b| !b.is_ascii_uppercase()),
            16,
            255,
            |b| b.is_ascii_alphanumeric(),
            Kind::StripeKey,
        ),
        Anchor::SkDash => sk_dash(bytes, s, e),
        Anchor::Sendgrid => sendgrid(bytes, s, e),
        Anchor::HuggingFace => fixed_tail(
            bytes,
            s,
            e,
            lit == b"hf_",
            30,
            64,
            |b| b.is_ascii_alphanumeric(),
            Kind::HuggingfaceToken,
        ),
        Anchor::Npm => fixed_tail(
            bytes,
            s,
            e,
            lit == b"npm_",
            36,
            36,
            |b| b.is_ascii_alphanumeric(),
            Kind::NpmToken,
        ),
        Anchor::Pypi => {
            let ok = lit == b"pypi-" && bytes.get(e..e + 3) == Some(b"AgE");
            fixed_tail(bytes, s, e, ok, 50, 1000, b64url, Kind::PypiToken)
        }
        Anchor::Splunk => splunk(bytes, s, e),
        Anchor::Negotiate => negotiate(bytes, s, e),
        Anchor::SigV4 => hex_value(bytes, s, e, &[64], None),
        Anchor::DigestResponse => hex_value(bytes, s, e, &[32, 64], Some(b"nonce=")),
        Anchor::Assign => assign::verify(text, s, e, names),
    }
}

/// `Splunk <HEC token>` (the scheme of Splunk's HTTP Event Collector): the
/// token is a GUID.
fn splunk(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if &bytes[s..e] != b"Splunk " || !starts_word(bytes, s) {
        return None;
    }
    let t = bytes.get(e..e + 36)?;
    let guid = t.iter().enumerate().all(|(i, &b)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    });
    (guid && ends_word(bytes, e + 36)).then_some(())?;
    hit(e, e + 36, Kind::Authorization)
}

/// `Negotiate <SPNEGO token>` / `NTLM <NTLMSSP message>`: base64 of a
/// Kerberos/SPNEGO blob (`YII…`, `oX…`, `oY…`) or an NTLMSSP message
/// (`TlRMTVNTUA`).
fn negotiate(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !starts_word(bytes, s) {
        return None;
    }
    let n = run_len(bytes, e, b64);
    let pad = run_len(bytes, e + n, |b| b == b'=');
    let token = &bytes[e..e + n];
    let known = token.starts_with(b"TlRMTVNTUA")
        || token.starts_with(b"YII")
        || token.starts_with(b"YH")
        || token.starts_with(b"oX")
        || token.starts_with(b"oY");
    (known && n >= 20 && ends_word(bytes, e + n + pad)).then_some(())?;
    hit(e, e + n + pad, Kind::Authorization)
}

/// `Signature=<64 hex>` (AWS Signature Version 4, header or presigned URL
/// `X-Amz-Signature`) and Digest `response="<32 or 64 hex>"` after a
/// `nonce=` in the same header: a replayable request credential.
fn hex_value(
    bytes: &[u8],
    s: usize,
    e: usize,
    lens: &[usize],
    needs: Option<&[u8]>,
) -> Option<Hit> {
    if s > 0 && bytes[s - 1].is_ascii_alphanumeric() {
        return None;
    }
    if let Some(label) = needs {
        let from = s.saturating_sub(512);
        memchr::memmem::find(&bytes[from..s], label)?;
    }
    let q = usize::from(bytes.get(e) == Some(&b'"'));
    let n = run_len(bytes, e + q, |b| b.is_ascii_hexdigit());
    (lens.contains(&n) && ends_word(bytes, e + q + n)).then_some(())?;
    hit(e + q, e + q + n, Kind::Authorization)
}

/// `[REDACTED:kind]`, `[HASH:kind:hex]`, `[CARD:…1234]`: protected, so a
/// second redaction pass leaves the first one's output alone.
fn marker(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !bytes[s + 1..e - 1].iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let close = bytes[e..].iter().take(80).position(|&b| b == b']')?;
    Some(Hit {
        start: s,
        end: e + close + 1,
        kind: None,
    })
}

/// A prefix followed by `min..=max` bytes of `class`, bounded on both sides.
#[allow(clippy::too_many_arguments)]
fn fixed_tail(
    bytes: &[u8],
    s: usize,
    e: usize,
    case_ok: bool,
    min: usize,
    max: usize,
    class: fn(u8) -> bool,
    kind: Kind,
) -> Option<Hit> {
    if !case_ok || !starts_word(bytes, s) {
        return None;
    }
    let n = run_len(bytes, e, class);
    ((min..=max).contains(&n) && ends_word(bytes, e + n)).then_some(())?;
    hit(s, e + n, kind)
}

/// `header.payload.signature`, base64url, header starting `eyJ` (`{"`).
fn jwt(bytes: &[u8], s: usize) -> Option<Hit> {
    if bytes.get(s..s + 3) != Some(b"eyJ") || !starts_word(bytes, s) {
        return None;
    }
    let h = run_len(bytes, s, b64url);
    if h < 10 || bytes.get(s + h) != Some(&b'.') {
        return None;
    }
    let p0 = s + h + 1;
    let p = run_len(bytes, p0, b64url);
    if p < 10 || bytes.get(p0 + p) != Some(&b'.') {
        return None;
    }
    let s0 = p0 + p + 1;
    let sig = run_len(bytes, s0, b64url);
    hit(s, s0 + sig, Kind::Jwt)
}

/// `Bearer <token>` / `Basic <base64 user:pass>`: the span is the credential,
/// the scheme word stays.
fn scheme_token(bytes: &[u8], s: usize, e: usize, kind: Kind) -> Option<Hit> {
    if !starts_word(bytes, s) {
        return None;
    }
    let ws = run_len(bytes, e, |b| b == b' ' || b == b'\t');
    if ws == 0 {
        return None;
    }
    let t0 = e + ws;
    let n = run_len(bytes, t0, |b| {
        b64url(b) || matches!(b, b'.' | b'~' | b'+' | b'/')
    });
    let pad = run_len(bytes, t0 + n, |b| b == b'=');
    let token = &bytes[t0..t0 + n + pad];
    if !ends_word(bytes, t0 + n + pad) {
        return None;
    }
    let ok = match kind {
        Kind::BasicAuth => {
            use base64::Engine;
            n >= 8
                && base64::engine::general_purpose::STANDARD
                    .decode(token)
                    .is_ok_and(|d| {
                        d.contains(&b':') && d.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
                    })
        }
        _ => n >= 12 && token.iter().any(|b| !b.is_ascii_alphabetic()),
    };
    ok.then_some(())?;
    hit(t0, t0 + n + pad, kind)
}

/// `scheme://user:password@host`: the span is `user:password`.
fn url_credentials(bytes: &[u8], e: usize) -> Option<Hit> {
    let n = bytes[e..].iter().take(256).position(|&b| {
        matches!(
            b,
            b'@' | b'/' | b'?' | b' ' | b'"' | b'\'' | b'<' | b'>' | b'\n'
        )
    })?;
    if bytes.get(e + n) != Some(&b'@') {
        return None;
    }
    let info = &bytes[e..e + n];
    let colon = info.iter().position(|&b| b == b':')?;
    (colon + 1 < info.len()).then_some(())?;
    hit(e, e + n, Kind::UrlCredentials)
}

fn email(bytes: &[u8], at: usize) -> Option<Hit> {
    let local_ok =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut start = at;
    while start > 0 && at - start < 64 && local_ok(bytes[start - 1]) {
        start -= 1;
    }
    while start < at && !bytes[start].is_ascii_alphanumeric() {
        start += 1;
    }
    if start == at {
        return None;
    }
    let d0 = at + 1;
    let mut end = d0;
    let mut last_label = (0, 0);
    let mut labels = 0;
    loop {
        let n = run_len(bytes, end, |b| b.is_ascii_alphanumeric() || b == b'-');
        if n == 0 || n > 63 {
            break;
        }
        last_label = (end, end + n);
        labels += 1;
        end += n;
        if bytes.get(end) == Some(&b'.')
            && bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            end += 1;
        } else {
            break;
        }
    }
    let tld = &bytes[last_label.0..last_label.1];
    let ok =
        labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) && end - d0 <= 253;
    (ok && ends_word(bytes, end)).then_some(())?;
    hit(start, end, Kind::Email)
}

/// PEM private key, header to footer; a key cut off before its footer is
/// redacted to the end of the text.
fn pem(text: &str, s: usize, e: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    let header_end = bytes[e..].iter().take(64).position(|&b| b == b'-')? + e;
    let label = &text[e..header_end];
    if !label.contains("PRIVATE KEY") {
        return None;
    }
    let body = e + run_len(bytes, header_end, |b| b == b'-') + (header_end - e);
    let end = match memchr::memmem::find(&bytes[body..], b"-----END") {
        Some(off) => {
            let f = body + off + 8;
            let close =
                memchr::memmem::find(&bytes[f..], b"-----").map_or(bytes.len(), |c| f + c + 5);
            close.min(bytes.len())
        }
        None => bytes.len(),
    };
    hit(s, end, Kind::PrivateKey)
}

/// Slack `xox[abposre]-...` tokens.
fn slack(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if &bytes[s..e] != b"xox" || !starts_word(bytes, s) {
        return None;
    }
    let t = *bytes.get(e)?;
    if !matches!(t, b'a' | b'b' | b'p' | b'o' | b's' | b'r' | b'e')
        || bytes.get(e + 1) != Some(&b'-')
    {
        return None;
    }
    let n = run_len(bytes, e + 2, |b| b.is_ascii_alphanumeric() || b == b'-');
    (n >= 10 && ends_word(bytes, e + 2 + n)).then_some(())?;
    hit(s, e + 2 + n, Kind::SlackToken)
}

/// `https://hooks.slack.com/services/T.../B.../...`: the path is the secret.
fn slack_webhook(bytes: &[u8], _s: usize, e: usize) -> Option<Hit> {
    let n = run_len(bytes, e, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-')
    });
    let path = &bytes[e..e + n];
    let ok = (path.starts_with(b"services/")
        || path.starts_with(b"workflows/")
        || path.starts_with(b"triggers/"))
        && n >= 30;
    ok.then_some(())?;
    hit(e, e + n, Kind::SlackWebhook)
}

/// `sk-ant-...` (Anthropic), `sk-proj-...` and `sk-...` (OpenAI).
fn sk_dash(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if &bytes[s..e] != b"sk-" || !starts_word(bytes, s) {
        return None;
    }
    let n = run_len(bytes, e, b64url);
    let tail = &bytes[e..e + n];
    let kind = if tail.starts_with(b"ant-") {
        Kind::AnthropicKey
    } else {
        Kind::OpenaiKey
    };
    let random = tail.iter().any(u8::is_ascii_digit)
        && tail.iter().any(u8::is_ascii_uppercase)
        && tail.iter().any(u8::is_ascii_lowercase);
    (n >= 32 && random && ends_word(bytes, e + n)).then_some(())?;
    hit(s, e + n, kind)
}

/// `SG.<22>.<43>`.
fn sendgrid(bytes: &[u8], s: usize, e: usize) -> Option<Hit> {
    if &bytes[s..e] != b"SG." || !starts_word(bytes, s) {
        return None;
    }
    let a = run_len(bytes, e, b64url);
    if a != 22 || bytes.get(e + a) != Some(&b'.') {
        return None;
    }
    let b = run_len(bytes, e + a + 1, b64url);
    let end = e + a + 1 + b;
    (b == 43 && ends_word(bytes, end)).then_some(())?;
    hit(s, end, Kind::SendgridKey)
}

/// Twilio API key SID: `SK` and 32 lowercase hex digits. Called by the
/// numeric scan for words that start with `SK` and hold digits: `sk` is too
/// common a pair for the shared automaton.
pub fn twilio(bytes: &[u8], s: usize) -> Option<Hit> {
    if !starts_word(bytes, s) {
        return None;
    }
    let n = run_len(bytes, s + 2, |b| {
        b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
    });
    (n == 32 && ends_word(bytes, s + 2 + n)).then_some(())?;
    hit(s, s + 2 + n, Kind::TwilioKey)
}
