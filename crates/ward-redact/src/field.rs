//! Detection by field name: decides from a key alone whether the value under
//! it is a secret or personal data.
//!
//! Keys are normalized (ASCII lowercase, separators `_ - . space` removed), so
//! `Password`, `user_password`, `X-Api-Key`, `sessionToken` and `client-secret`
//! all match. A secret word matches only when what follows it in the key is
//! empty or a known "this is the value" suffix (`_value`, `_hash`, `_new`,
//! digits...): `password_changed`, `token_count`, `max_tokens`, `token_type`
//! and `pwd_last_set` describe a secret without holding one, so they are left
//! alone. Personal-data names (`email`, `phone`, `ssn`) must end the key, so
//! the ECS `email.subject` field set is not mistaken for an address.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::kind::Kind;

/// What a field name says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRule {
    /// The whole value is of this kind.
    Whole(Kind),
    /// The value is of this kind only if it looks random (a `key` may be a
    /// cache key or an object path).
    Weak(Kind),
    /// Only values shaped like ICD-10 codes are diagnoses.
    Icd10,
}

/// Maximum normalized key length that is classified; longer keys keep their
/// last bytes, where the meaningful word usually is.
const MAX_KEY: usize = 96;

/// Words that mark a secret wherever they occur in a key.
const SECRET_WORDS: &[(&str, Kind)] = &[
    ("password", Kind::Password),
    ("passwd", Kind::Password),
    ("passphrase", Kind::Password),
    ("pwd", Kind::Password),
    ("secret", Kind::Secret),
    ("credential", Kind::Secret),
    ("apikey", Kind::ApiKey),
    ("accesskey", Kind::ApiKey),
    ("privatekey", Kind::PrivateKey),
    ("token", Kind::Token),
    ("sessionkey", Kind::Token),
    ("authorization", Kind::Authorization),
    ("cookie", Kind::Cookie),
];

/// What may follow a secret word for the key to still hold the secret itself.
const VALUE_SUFFIXES: &[&str] = &[
    "",
    "s",
    "value",
    "val",
    "key",
    "str",
    "string",
    "plain",
    "plaintext",
    "clear",
    "cleartext",
    "raw",
    "b64",
    "base64",
    "enc",
    "encrypted",
    "hash",
    "hashed",
    "digest",
    "data",
    "text",
    "header",
    "new",
    "old",
    "confirm",
    "confirmation",
    "input",
    "field",
    "accesskey",
];

/// Keys that must end the normalized name, with the kind they hold. Checked
/// in order; `exact` entries must be the whole name.
const SUFFIX_NAMES: &[(&str, Kind, bool)] = &[
    ("sessionid", Kind::SessionId, false),
    ("sessid", Kind::SessionId, false),
    ("ssn", Kind::Ssn, false),
    ("socialsecuritynumber", Kind::Ssn, false),
    ("socialsecurity", Kind::Ssn, false),
    ("cvv", Kind::Cvv, false),
    ("cvv2", Kind::Cvv, false),
    ("cvc", Kind::Cvv, false),
    ("cardsecuritycode", Kind::Cvv, false),
    ("cardnumber", Kind::Card, false),
    ("cardno", Kind::Card, false),
    ("ccnumber", Kind::Card, false),
    ("creditcard", Kind::Card, false),
    ("pan", Kind::Card, true),
    ("iban", Kind::Iban, false),
    ("npi", Kind::Npi, false),
    ("mrn", Kind::Mrn, false),
    ("medicalrecordnumber", Kind::Mrn, false),
    ("deanumber", Kind::Dea, false),
    ("dea", Kind::Dea, true),
    ("phone", Kind::Phone, false),
    ("phonenumber", Kind::Phone, false),
    ("mobile", Kind::Phone, false),
    ("mobilenumber", Kind::Phone, false),
    ("telephone", Kind::Phone, false),
    ("msisdn", Kind::Phone, false),
    ("email", Kind::Email, false),
    ("emailaddress", Kind::Email, false),
    ("pass", Kind::Password, true),
    ("pw", Kind::Password, true),
    ("pin", Kind::Password, true),
    ("otp", Kind::Password, true),
];

/// Keys whose string values are diagnoses.
const DIAGNOSIS_NAMES: &[&str] = &[
    "diagnosis",
    "diagnosiscode",
    "diagnoses",
    "icd10",
    "icd10code",
    "icdcode",
    "dx",
];

/// Keys that hold a secret only when the value looks random.
const WEAK_NAMES: &[&str] = &["key", "sig", "signature", "auth"];

/// Names ending in `key` that name a lookup key, not a secret.
const NOT_SECRET_KEYS: &[&str] = &[
    "cachekey",
    "partitionkey",
    "sortkey",
    "idempotencykey",
    "primarykey",
    "foreignkey",
    "routingkey",
    "objectkey",
    "s3key",
    "rowkey",
    "hashkey",
    "rangekey",
    "publickey",
    "groupkey",
    "dedupkey",
    "dedupekey",
    "lookupkey",
    "mapkey",
    "indexkey",
    "sessionkey",
    "messagekey",
    "recordkey",
    "hotkey",
    "shortcutkey",
    "monkey",
    "turkey",
    "whiskey",
    "hockey",
    "donkey",
    "jockey",
];

/// Slots of the per-thread classification cache (a power of two).
const CACHE_SLOTS: usize = 4096;

/// A direct-mapped cache: one key per slot, a colliding key replaces the
/// previous one. No chains means crafted keys can only cause misses (a
/// bounded recomputation), never a slow lookup.
struct KeyCache {
    owner: u64,
    slots: Vec<Option<(Box<str>, Option<FieldRule>)>>,
}

thread_local! {
    /// Classification by raw key, for the classifier `owner`: events repeat
    /// the same few hundred keys, and classifying one costs a normalization
    /// and an automaton pass.
    static CACHE: RefCell<KeyCache> = const { RefCell::new(KeyCache { owner: 0, slots: Vec::new() }) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// FNV-1a over the whole key: keys are short, and a full hash keeps
/// collisions (which only cost misses) rare.
fn slot(key: &[u8]) -> usize {
    let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    ((h ^ (h >> 32)) as usize) & (CACHE_SLOTS - 1)
}

/// Classifies keys; built once per redactor.
#[derive(Debug, Clone)]
pub struct FieldNames {
    words: AhoCorasick,
    extra: Vec<String>,
    /// Distinguishes classifiers in the per-thread cache.
    id: u64,
}

impl FieldNames {
    /// Builds the classifier; `extra` are additional secret names (any form).
    pub fn new(extra: &[String]) -> Result<FieldNames, aho_corasick::BuildError> {
        let words = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(SECRET_WORDS.iter().map(|(w, _)| *w))?;
        let extra = extra
            .iter()
            .map(|e| normalize(e))
            .filter(|e| !e.is_empty())
            .collect();
        Ok(FieldNames {
            words,
            extra,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Classifies a key. `parent` is the enclosing object's key, used for
    /// ECS `session.id`.
    pub fn classify(&self, key: &str, parent: Option<&str>) -> Option<FieldRule> {
        if key.eq_ignore_ascii_case("id") {
            return match parent {
                Some(p) if ends_with_session(p) => Some(FieldRule::Whole(Kind::SessionId)),
                _ => None,
            };
        }
        CACHE.with(|cell| {
            let mut cache = cell.borrow_mut();
            if cache.owner != self.id {
                cache.owner = self.id;
                cache.slots = vec![None; CACHE_SLOTS];
            }
            // Two-way: a key lives in slot `i` or its neighbour `i ^ 1`.
            let i = slot(key.as_bytes());
            for j in [i, i ^ 1] {
                if let Some((k, rule)) = &cache.slots[j]
                    && **k == *key
                {
                    return *rule;
                }
            }
            let rule = self.classify_normalized(&normalize(key));
            let j = if cache.slots[i].is_none() { i } else { i ^ 1 };
            cache.slots[j] = Some((key.into(), rule));
            rule
        })
    }

    /// Classifies an already normalized key.
    pub fn classify_normalized(&self, n: &str) -> Option<FieldRule> {
        if n.is_empty() {
            return None;
        }
        if self.extra.iter().any(|e| e == n) {
            return Some(FieldRule::Whole(Kind::Secret));
        }
        for m in self.words.find_iter(n) {
            let rest = &n[m.end()..];
            let (word, kind) = SECRET_WORDS[m.pattern().as_usize()];
            let plural_count = word == "token" && rest == "s";
            let holds_value =
                VALUE_SUFFIXES.contains(&rest) || rest.bytes().all(|b| b.is_ascii_digit());
            if holds_value && !plural_count {
                let kind = if kind == Kind::Secret && n.contains("aws") {
                    Kind::AwsSecretKey
                } else {
                    kind
                };
                return Some(FieldRule::Whole(kind));
            }
        }
        for (name, kind, exact) in SUFFIX_NAMES {
            if (*exact && n == *name) || (!*exact && n.ends_with(name)) {
                return Some(FieldRule::Whole(*kind));
            }
        }
        if DIAGNOSIS_NAMES.iter().any(|d| n.ends_with(d)) {
            return Some(FieldRule::Icd10);
        }
        if WEAK_NAMES.contains(&n)
            || (n.ends_with("key") && !NOT_SECRET_KEYS.iter().any(|k| n.ends_with(k)))
        {
            return Some(FieldRule::Weak(Kind::GenericSecret));
        }
        None
    }
}

/// `session`, `Session`, `user_session` — without allocating.
fn ends_with_session(p: &str) -> bool {
    let p = p.trim_end_matches(['_', '-', '.']);
    p.len() >= 7 && p.as_bytes()[p.len() - 7..].eq_ignore_ascii_case(b"session")
}

/// Lowercases ASCII and drops separators; keeps at most the last [`MAX_KEY`] bytes.
pub fn normalize(key: &str) -> String {
    let mut out: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' ' | '[' | ']' | '$' | '@'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if out.len() > MAX_KEY {
        let mut cut = out.len() - MAX_KEY;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.drain(..cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(key: &str) -> Option<FieldRule> {
        FieldNames::new(&[]).unwrap().classify(key, None)
    }

    #[test]
    fn secret_names_in_any_form() {
        for (k, kind) in [
            ("password", Kind::Password),
            ("Password", Kind::Password),
            ("user_password", Kind::Password),
            ("X-Api-Key", Kind::ApiKey),
            ("sessionToken", Kind::Token),
            ("client-secret", Kind::Secret),
            ("set-cookie", Kind::Cookie),
            ("Authorization", Kind::Authorization),
            ("private_key", Kind::PrivateKey),
            ("aws_secret_access_key", Kind::AwsSecretKey),
            ("csrf_token", Kind::Token),
            ("password_hash", Kind::Password),
            ("card_number", Kind::Card),
            ("cvv", Kind::Cvv),
            ("SSN", Kind::Ssn),
            ("passwd", Kind::Password),
            ("pwd", Kind::Password),
            ("new_password2", Kind::Password),
        ] {
            assert_eq!(class(k), Some(FieldRule::Whole(kind)), "{k}");
        }
    }

    #[test]
    fn descriptions_of_secrets_are_not_secrets() {
        for k in [
            "password_changed",
            "token_count",
            "max_tokens",
            "prompt_tokens",
            "token_type",
            "pwdLastSet",
            "password_policy",
            "secret_name",
            "tokenizer",
            "action",
            "email_verified",
            "bypass",
            "aws_access_key_id",
        ] {
            assert_eq!(class(k), None, "{k}");
        }
    }

    #[test]
    fn session_id_by_parent_and_name() {
        let f = FieldNames::new(&[]).unwrap();
        assert_eq!(
            f.classify("id", Some("session")),
            Some(FieldRule::Whole(Kind::SessionId))
        );
        assert_eq!(f.classify("id", Some("user")), None);
        assert_eq!(
            f.classify("JSESSIONID", None),
            Some(FieldRule::Whole(Kind::SessionId))
        );
    }

    #[test]
    fn personal_names_must_end_the_key() {
        assert_eq!(class("email"), Some(FieldRule::Whole(Kind::Email)));
        assert_eq!(class("email.subject"), None);
        assert_eq!(class("diagnosis_code"), Some(FieldRule::Icd10));
        assert_eq!(class("key"), Some(FieldRule::Weak(Kind::GenericSecret)));
    }

    #[test]
    fn extra_names() {
        let f = FieldNames::new(&["X-Tenant-Signing".to_string()]).unwrap();
        assert_eq!(
            f.classify("x_tenant_signing", None),
            Some(FieldRule::Whole(Kind::Secret))
        );
    }
}
