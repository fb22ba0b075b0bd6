//! Renders the replacement for a redacted value: `[REDACTED:kind]`,
//! `[HASH:kind:<16 hex>]`, `[CARD:…4242]`.
//!
//! The keyed hash is HMAC-SHA256 under the tenant's key over the kind name
//! and a canonical form of the value (digits of a card or phone number, a
//! lower-cased e-mail address), so the same value correlates across events
//! and fields of one tenant, and nobody without the key can test guesses.

use std::cell::RefCell;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Action;
use crate::kind::Kind;

type HmacSha256 = Hmac<Sha256>;

thread_local! {
    /// The keyed HMAC state of the last tenant key used on this thread:
    /// keying costs two SHA-256 blocks, and consecutive events usually share
    /// a tenant.
    static KEYED: RefCell<Option<(Vec<u8>, HmacSha256)>> = const { RefCell::new(None) };
}

/// HMAC-SHA256(key, kind ‖ 0x1f ‖ value), first 8 bytes as 16 hex digits.
pub fn keyed_hash(key: &[u8], kind: Kind, value: &str) -> String {
    let canonical = canonical(kind, value);
    let digest = KEYED.with(|cell| {
        let mut cached = cell.borrow_mut();
        let mac = match cached.as_ref() {
            Some((k, mac)) if k.as_slice() == key => mac.clone(),
            _ => {
                // HMAC accepts keys of any length; this cannot fail.
                let Ok(mac) = HmacSha256::new_from_slice(key) else {
                    return [0u8; 32];
                };
                *cached = Some((key.to_vec(), mac.clone()));
                mac
            }
        };
        let mut mac = mac;
        mac.update(kind.name().as_bytes());
        mac.update(&[0x1f]);
        mac.update(canonical.as_bytes());
        mac.finalize().into_bytes().into()
    });
    hex::encode(&digest[..8])
}

fn canonical(kind: Kind, value: &str) -> std::borrow::Cow<'_, str> {
    match kind {
        Kind::Card | Kind::Ssn | Kind::Npi => value
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .into(),
        Kind::Phone => value
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect::<String>()
            .into(),
        Kind::Email => value.to_ascii_lowercase().into(),
        Kind::Iban => value
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
            .into(),
        _ => value.into(),
    }
}

/// The replacement text for `value` of `kind` under `action`. `Drop` and
/// `Keep` are handled by the caller; here they fall back to masking.
pub fn render(kind: Kind, action: Action, value: &str, key: &[u8]) -> String {
    match action {
        Action::Hash => {
            let hash = keyed_hash(key, kind, value);
            let mut out = String::with_capacity(8 + kind.name().len() + hash.len());
            out.push_str("[HASH:");
            out.push_str(kind.name());
            out.push(':');
            out.push_str(&hash);
            out.push(']');
            out
        }
        Action::Partial if kind.supports_partial() => {
            let tail: String = {
                let keep: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
                if keep.len() < 8 {
                    return mask(kind);
                }
                keep[keep.len() - 4..].iter().collect()
            };
            let label = if kind == Kind::Card { "CARD" } else { "IBAN" };
            format!("[{label}:…{tail}]")
        }
        _ => mask(kind),
    }
}

/// `[REDACTED:kind]`.
pub fn mask(kind: Kind) -> String {
    format!("[REDACTED:{}]", kind.name())
}

/// Whether `s` is exactly one replacement marker (`[REDACTED:kind]`,
/// `[HASH:kind:<16 hex>]`, `[CARD:…1234]`, `[IBAN:…1234]`).
pub fn is_marker(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    let Some((label, rest)) = inner.split_once(':') else {
        return false;
    };
    match label {
        "REDACTED" => Kind::from_name(rest).is_some(),
        "HASH" => rest.split_once(':').is_some_and(|(k, h)| {
            Kind::from_name(k).is_some()
                && h.len() == 16
                && h.bytes().all(|b| b.is_ascii_hexdigit())
        }),
        "CARD" | "IBAN" => rest.starts_with('…'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        assert_eq!(
            render(Kind::Password, Action::Mask, "x", b"k"),
            "[REDACTED:password]"
        );
        assert_eq!(
            render(Kind::Card, Action::Partial, "4242 4242 4242 4242", b"k"),
            "[CARD:…4242]"
        );
        assert_eq!(
            render(Kind::Ssn, Action::Partial, "123-45-6789", b"k"),
            "[REDACTED:ssn]"
        );
        let h = render(Kind::Email, Action::Hash, "Bob@Example.com", b"tenant-a");
        assert_eq!(
            h,
            render(Kind::Email, Action::Hash, "bob@example.com", b"tenant-a")
        );
        assert_ne!(
            h,
            render(Kind::Email, Action::Hash, "bob@example.com", b"tenant-b")
        );
        assert!(is_marker(&h));
        assert!(is_marker("[CARD:…4242]"));
        assert!(!is_marker("[REDACTED:nope]"));
    }

    #[test]
    fn hash_is_hmac_sha256() {
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"session_id\x1fabc");
        let want = hex::encode(&mac.finalize().into_bytes()[..8]);
        assert_eq!(keyed_hash(b"key", Kind::SessionId, "abc"), want);
    }
}
