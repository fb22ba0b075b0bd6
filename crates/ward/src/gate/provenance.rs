//! Provenance: in-toto attestations (SLSA provenance and other in-toto
//! Statements, and in-toto link metadata) in DSSE envelopes, verified
//! against public keys pinned in the configuration (`[[gate.keys]]`).
//!
//! DSSE (<https://github.com/secure-systems-lab/dsse>, protocol v1): a
//! signature is over the pre-authentication encoding of the payload type and
//! the payload bytes ([`pae`]), never over the envelope's JSON. The payload
//! is parsed only after one signature verified, and only when its type is
//! `application/vnd.in-toto+json`.
//!
//! Keys: Ed25519 (the signature is the 64 raw bytes) and ECDSA P-256 with
//! SHA-256 (the signature DER-encoded, as securesystemslib, cosign and
//! OpenSSL write it, or the 64 bytes of r‖s), each a PEM SubjectPublicKeyInfo
//! with the key id the signer puts in `signatures[].keyid`. A signature
//! naming a key id is checked with that key only; one without a key id is
//! tried against every pinned key. One verified signature is enough.
//!
//! Not supported: Sigstore keyless signatures (Fulcio certificates, Rekor
//! inclusion proofs), RSA keys, and attestation bundles other than a bare
//! DSSE envelope.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The payload type of in-toto attestations.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Most signatures read from one envelope.
pub const MAX_SIGNATURES: usize = 16;
/// Most subjects kept from one attestation.
pub const MAX_SUBJECTS: usize = 1_000;
/// Most artefact digests remembered per tenant (the oldest go first).
pub const MAX_DIGESTS: usize = 100_000;
/// Records kept per digest (the newest).
pub const MAX_RECORDS_PER_DIGEST: usize = 8;

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN` is the
/// byte length in ASCII decimal without leading zeros.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let t = payload_type.as_bytes();
    let mut out = Vec::with_capacity(t.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(t.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(t);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A public key of one of the two accepted algorithms.
#[derive(Clone)]
enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A pinned key: its id and the public key.
#[derive(Clone)]
pub struct TrustedKey {
    pub id: String,
    key: PublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({}, {})", self.id, self.algorithm())
    }
}

impl TrustedKey {
    /// Reads a PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`) of an
    /// Ed25519 or P-256 key.
    pub fn from_pem(id: &str, pem: &str) -> Result<TrustedKey, String> {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
            return Err("key id: 1 to 256 bytes without control characters".into());
        }
        let pem = pem.trim();
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(TrustedKey {
                id: id.into(),
                key: PublicKey::Ed25519(k),
            });
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(TrustedKey {
                id: id.into(),
                key: PublicKey::P256(k),
            });
        }
        Err(
            "not a PEM public key (-----BEGIN PUBLIC KEY-----) of an Ed25519 or ECDSA P-256 key"
                .into(),
        )
    }

    pub fn algorithm(&self) -> &'static str {
        match self.key {
            PublicKey::Ed25519(_) => "ed25519",
            PublicKey::P256(_) => "ecdsa-p256-sha256",
        }
    }

    /// Whether `sig` is this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            PublicKey::Ed25519(k) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                    return false;
                };
                k.verify_strict(msg, &sig).is_ok()
            }
            PublicKey::P256(k) => {
                use p256::ecdsa::signature::Verifier as _;
                let parsed = p256::ecdsa::Signature::from_der(sig)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(sig));
                let Ok(sig) = parsed else {
                    return false;
                };
                k.verify(msg, &sig).is_ok()
            }
        }
    }
}

/// `[[gate.keys]]`: a key id and a PEM public key, inline or in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub id: String,
    #[serde(default)]
    pub pem: Option<String>,
    #[serde(default)]
    pub path: Option<std::path::PathBuf>,
}

/// Loads the pinned keys; an error names the key.
pub fn load_keys(cfgs: &[KeyConfig]) -> anyhow::Result<Vec<TrustedKey>> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for (i, c) in cfgs.iter().enumerate() {
        let pem = match (&c.pem, &c.path) {
            (Some(p), None) => p.clone(),
            (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
                format!("gate.keys[{i}] ({}): cannot read {}", c.id, path.display())
            })?,
            _ => anyhow::bail!("gate.keys[{i}] ({}): give exactly one of pem or path", c.id),
        };
        let k = TrustedKey::from_pem(&c.id, &pem)
            .map_err(|e| anyhow::anyhow!("gate.keys[{i}] ({}): {e}", c.id))?;
        if out.iter().any(|o| o.id == k.id) {
            anyhow::bail!("gate.keys[{i}]: key id {:?} is given twice", c.id);
        }
        out.push(k);
    }
    Ok(out)
}

/// A DSSE envelope as JSON carries it.
#[derive(Debug, Deserialize)]
struct Envelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

/// Decodes standard or URL-safe base64, padded or not (DSSE allows both).
fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .ok()
}

/// One artefact an attestation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// What a verified (or refused) attestation says.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attestation {
    /// `https://in-toto.io/Statement/v1` (or v0.1), or `link`.
    pub statement_type: String,
    pub predicate_type: String,
    pub subjects: Vec<Subject>,
    /// SLSA `builder.id`, or a link's step name.
    pub builder: Option<String>,
    /// A git commit the build says it was made from.
    pub source_commit: Option<String>,
}

/// The outcome of checking one envelope.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Verified with the key of this id.
    Valid { keyid: String },
    /// Not verified, and why.
    Invalid { why: String },
}

/// A checked envelope: the verdict and what the payload claims (a refused
/// envelope's claims are kept as evidence of the attempt, never trusted).
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    pub attestation: Attestation,
}

/// Reads and verifies one envelope. `Err` when the bytes are not a DSSE
/// envelope at all; otherwise a verdict.
pub fn check(raw: &[u8], keys: &[TrustedKey]) -> Result<Checked, String> {
    let env: Envelope = serde_json::from_slice(raw)
        .map_err(|e| format!("not a DSSE envelope (payload, payloadType, signatures): {e}"))?;
    let Some(payload) = b64(&env.payload) else {
        return Err("payload: not base64".into());
    };
    if env.signatures.is_empty() {
        return Ok(invalid("the envelope has no signature", &payload));
    }
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(format!("signatures: more than {MAX_SIGNATURES}"));
    }
    let message = pae(&env.payload_type, &payload);
    let mut problems = Vec::new();
    let mut verified = None;
    for (i, s) in env.signatures.iter().enumerate() {
        let keyid = s.keyid.as_deref().unwrap_or("");
        let Some(sig) = b64(&s.sig) else {
            problems.push(format!("signatures[{i}]: not base64"));
            continue;
        };
        let candidates: Vec<&TrustedKey> = if keyid.is_empty() {
            keys.iter().collect()
        } else {
            keys.iter().filter(|k| k.id == keyid).collect()
        };
        if candidates.is_empty() {
            problems.push(if keyid.is_empty() {
                format!("signatures[{i}]: no key is configured")
            } else {
                format!(
                    "signatures[{i}]: key id {:?} is not pinned in [[gate.keys]]",
                    clip(keyid)
                )
            });
            continue;
        }
        match candidates.iter().find(|k| k.verify(&message, &sig)) {
            Some(k) => {
                verified = Some(k.id.clone());
                break;
            }
            None => problems.push(format!(
                "signatures[{i}]: does not verify with key {:?}",
                clip(&candidates[0].id)
            )),
        }
    }
    let Some(keyid) = verified else {
        return Ok(invalid(&problems.join("; "), &payload));
    };
    if env.payload_type != PAYLOAD_TYPE {
        return Ok(invalid(
            &format!(
                "payloadType {:?} is not {PAYLOAD_TYPE}",
                clip(&env.payload_type)
            ),
            &payload,
        ));
    }
    match parse_statement(&payload) {
        Ok(a) => Ok(Checked {
            verdict: Verdict::Valid { keyid },
            attestation: a,
        }),
        Err(why) => Ok(Checked {
            verdict: Verdict::Invalid {
                why: format!("signed by {keyid:?}, but the payload {why}"),
            },
            attestation: Attestation::default(),
        }),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn invalid(why: &str, payload: &[u8]) -> Checked {
    Checked {
        verdict: Verdict::Invalid { why: why.into() },
        attestation: parse_statement(payload).unwrap_or_default(),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses an in-toto Statement (v1 or v0.1) or an in-toto link.
pub fn parse_statement(payload: &[u8]) -> Result<Attestation, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("is not JSON: {e}"))?;
    let t = v
        .get("_type")
        .and_then(Value::as_str)
        .ok_or("has no _type")?;
    let mut a = Attestation {
        statement_type: t.into(),
        ..Attestation::default()
    };
    match t {
        "https://in-toto.io/Statement/v1" | "https://in-toto.io/Statement/v0.1" => {
            a.predicate_type = v
                .get("predicateType")
                .and_then(Value::as_str)
                .ok_or("has no predicateType")?
                .chars()
                .take(200)
                .collect();
            let subjects = v
                .get("subject")
                .and_then(Value::as_array)
                .ok_or("has no subject list")?;
            for (i, s) in subjects.iter().enumerate().take(MAX_SUBJECTS) {
                let name = s.get("name").and_then(Value::as_str).unwrap_or("");
                let digest = s
                    .get("digest")
                    .and_then(|d| d.get("sha256"))
                    .and_then(Value::as_str);
                match digest {
                    Some(d) if is_sha256(d) => a.subjects.push(Subject {
                        name: clip(name),
                        sha256: d.to_ascii_lowercase(),
                    }),
                    Some(_) => {
                        return Err(format!("subject[{i}].digest.sha256 is not 64 hex digits"));
                    }
                    None => {}
                }
            }
            let p = v.get("predicate");
            let pick = |path: &[&str]| -> Option<String> {
                let mut cur = p?;
                for k in path {
                    cur = cur.get(*k)?;
                }
                cur.as_str().map(clip)
            };
            a.builder = pick(&["runDetails", "builder", "id"]).or_else(|| pick(&["builder", "id"]));
            a.source_commit = source_commit(p);
        }
        "link" => {
            a.predicate_type = "https://in-toto.io/Link/v1".into();
            a.builder = v.get("name").and_then(Value::as_str).map(clip);
            let products = v
                .get("products")
                .and_then(Value::as_object)
                .ok_or("has no products")?;
            for (name, d) in products.iter().take(MAX_SUBJECTS) {
                if let Some(h) = d.get("sha256").and_then(Value::as_str)
                    && is_sha256(h)
                {
                    a.subjects.push(Subject {
                        name: clip(name),
                        sha256: h.to_ascii_lowercase(),
                    });
                }
            }
        }
        other => {
            return Err(format!(
                "has _type {:?}, not an in-toto Statement or link",
                clip(other)
            ));
        }
    }
    if a.subjects.is_empty() {
        return Err("names no subject with a sha256 digest".into());
    }
    Ok(a)
}

/// The git commit of a SLSA predicate's source: v1
/// `buildDefinition.resolvedDependencies[].digest.gitCommit`, v0.2
/// `materials[].digest.sha1` / `gitCommit`.
fn source_commit(p: Option<&Value>) -> Option<String> {
    let p = p?;
    let lists = [
        p.get("buildDefinition")
            .and_then(|b| b.get("resolvedDependencies")),
        p.get("materials"),
    ];
    for list in lists.into_iter().flatten() {
        for dep in list.as_array().into_iter().flatten() {
            let d = dep.get("digest");
            for k in ["gitCommit", "sha1"] {
                if let Some(c) = d.and_then(|d| d.get(k)).and_then(Value::as_str)
                    && !c.is_empty()
                    && c.len() <= 64
                    && c.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Some(c.to_ascii_lowercase());
                }
            }
        }
    }
    None
}

/// What Ward remembers of one attestation for one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub service: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
    pub valid: bool,
    /// The key that verified it, or why it was refused.
    pub detail: String,
    pub predicate_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub builder: String,
    pub at: String,
    /// The import's event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
}

/// Every digest's records, per tenant, with the order digests came in (to
/// drop the oldest beyond [`MAX_DIGESTS`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Store {
    pub digests: BTreeMap<String, Vec<Record>>,
    #[serde(default)]
    pub order: std::collections::VecDeque<String>,
}

impl Store {
    pub fn load(dir: &Path) -> anyhow::Result<Store> {
        let path = dir.join("provenance.json");
        match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice(&b).with_context(|| format!("{} is damaged", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        crate::access::replace_file(dir, "provenance.json", &serde_json::to_vec(self)?)
    }

    /// Records `r` for each digest.
    pub fn add(&mut self, digests: &[String], r: &Record) {
        for d in digests {
            let list = self.digests.entry(d.clone()).or_insert_with(|| {
                self.order.push_back(d.clone());
                Vec::new()
            });
            list.push(r.clone());
            let over = list.len().saturating_sub(MAX_RECORDS_PER_DIGEST);
            list.drain(..over);
        }
        while self.order.len() > MAX_DIGESTS {
            if let Some(old) = self.order.pop_front() {
                self.digests.remove(&old);
            }
        }
    }

    /// What is known of `digest` for `service`: a valid record, else the
    /// newest invalid one, else nothing.
    pub fn status(&self, digest: &str, service: &str) -> Status<'_> {
        let Some(list) = self.digests.get(digest) else {
            return Status::Missing;
        };
        let mine = || list.iter().rev().filter(|r| r.service == service);
        if let Some(r) = mine().find(|r| r.valid) {
            return Status::Valid(r);
        }
        match mine().next() {
            Some(r) => Status::Invalid(r),
            None => Status::Missing,
        }
    }

    /// The same for a service's commit: any artefact attested for it.
    pub fn status_of_commit(&self, service: &str, commit: &str) -> Status<'_> {
        let mut invalid = None;
        for r in self.digests.values().flatten() {
            if r.service != service || r.commit != commit {
                continue;
            }
            if r.valid {
                return Status::Valid(r);
            }
            invalid = Some(r);
        }
        invalid.map_or(Status::Missing, Status::Invalid)
    }
}

/// What the gate knows of an artefact's provenance.
#[derive(Debug, Clone, Copy)]
pub enum Status<'a> {
    Valid(&'a Record),
    Invalid(&'a Record),
    Missing,
}

/// Normalizes an artefact digest given as `sha256:HEX` or `HEX`.
pub fn parse_digest(s: &str) -> Result<String, String> {
    let h = s.strip_prefix("sha256:").unwrap_or(s);
    if is_sha256(h) {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(format!(
            "artifact {:?}: a SHA-256 digest, `sha256:` and 64 hex digits",
            clip(s)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
        // Lengths count bytes, not characters.
        assert_eq!(
            pae("é", "ü".as_bytes()),
            "DSSEv1 2 é 2 ü".as_bytes().to_vec()
        );
        let long = vec![b'x'; 1000];
        assert!(pae("t", &long).starts_with(b"DSSEv1 1 t 1000 xxx"));
    }

    /// The test vector of the DSSE specification (protocol.md): ECDSA P-256
    /// with SHA-256 and deterministic (RFC 6979) nonces, the key given as
    /// X, Y and d, the signature as r‖s in the example envelope.
    #[test]
    fn the_specification_example_envelope_verifies() {
        use p256::ecdsa::signature::Signer as _;
        use p256::pkcs8::EncodePublicKey as _;
        let point = hex::decode(
            "0467cd390f77aa359cb08c2235f652270493a9ed832b0abcc01f70954c0390d238\
             0c782bd54e269125a44f4433aff1432ce94e12bca73aa67ac80cea12608ddf74",
        )
        .unwrap();
        let d = hex::decode("d73ec437fd6346e3619c5ebfdfff0f6916804955ad32ac9ac492b0ede1f6ffb7")
            .unwrap();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let sk = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        assert_eq!(sk.verifying_key(), &vk, "d and (X, Y) are one key");
        let pem = vk.to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let spec_sig = "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";
        // Signing the PAE with d gives the specification's signature, byte for byte.
        let mine: p256::ecdsa::Signature =
            sk.sign(&pae("http://example.com/HelloWorld", b"hello world"));
        assert_eq!(mine.to_bytes().to_vec(), b64(spec_sig).unwrap());
        let key = TrustedKey::from_pem("66301bbf", &pem).unwrap();
        assert_eq!(key.algorithm(), "ecdsa-p256-sha256");
        let sig = b64(spec_sig).unwrap();
        let msg = pae("http://example.com/HelloWorld", b"hello world");
        assert!(key.verify(&msg, &sig));
        assert!(!key.verify(&pae("http://example.com/HelloWorld", b"hello world!"), &sig));
        let env = serde_json::json!({
            "payload": "aGVsbG8gd29ybGQ=",
            "payloadType": "http://example.com/HelloWorld",
            "signatures": [{"keyid": "66301bbf", "sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]
        });
        // The signature verifies; the payload type is not in-toto's.
        let c = check(env.to_string().as_bytes(), &[key]).unwrap();
        match c.verdict {
            Verdict::Invalid { why } => assert!(why.contains("payloadType"), "{why}"),
            Verdict::Valid { .. } => panic!("a non in-toto payload type was accepted"),
        }
    }

    fn statement() -> Vec<u8> {
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app.tar.gz", "digest": {"sha256": "a".repeat(64)}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {"resolvedDependencies": [{"uri": "git+https://x", "digest": {"gitCommit": "0123abcd"}}]},
                "runDetails": {"builder": {"id": "https://ci.example/builder"}}
            }
        })
        .to_string()
        .into_bytes()
    }

    fn envelope(
        sk: &ed25519_dalek::SigningKey,
        keyid: &str,
        ptype: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let sig = sk.sign(&pae(ptype, payload));
        let e = base64::engine::general_purpose::STANDARD;
        serde_json::json!({
            "payload": e.encode(payload),
            "payloadType": ptype,
            "signatures": [{"keyid": keyid, "sig": e.encode(sig.to_bytes())}]
        })
        .to_string()
        .into_bytes()
    }

    fn ed_key(seed: u8, id: &str) -> (ed25519_dalek::SigningKey, TrustedKey) {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        (sk, TrustedKey::from_pem(id, &pem).unwrap())
    }

    #[test]
    fn ed25519_statements_verify_and_tampering_is_refused() {
        let (sk, key) = ed_key(7, "k1");
        let keys = [key];
        let good = envelope(&sk, "k1", PAYLOAD_TYPE, &statement());
        let c = check(&good, &keys).unwrap();
        assert!(matches!(c.verdict, Verdict::Valid { ref keyid } if keyid == "k1"));
        assert_eq!(c.attestation.subjects[0].sha256, "a".repeat(64));
        assert_eq!(
            c.attestation.builder.as_deref(),
            Some("https://ci.example/builder")
        );
        assert_eq!(c.attestation.source_commit.as_deref(), Some("0123abcd"));

        let why = |raw: &[u8]| match check(raw, &keys).unwrap().verdict {
            Verdict::Invalid { why } => why,
            Verdict::Valid { .. } => panic!("accepted"),
        };
        // Payload changed after signing.
        let mut v: Value = serde_json::from_slice(&good).unwrap();
        let mut other = statement();
        other[20] ^= 1;
        v["payload"] = base64::engine::general_purpose::STANDARD
            .encode(&other)
            .into();
        assert!(why(v.to_string().as_bytes()).contains("does not verify"));
        // Unknown key id.
        assert!(why(&envelope(&sk, "k2", PAYLOAD_TYPE, &statement())).contains("not pinned"));
        // Wrong key under the pinned id.
        let (other_sk, _) = ed_key(8, "k1");
        assert!(
            why(&envelope(&other_sk, "k1", PAYLOAD_TYPE, &statement())).contains("does not verify")
        );
        // Signed, but not as an in-toto payload.
        assert!(
            why(&envelope(&sk, "k1", "application/json", &statement())).contains("payloadType")
        );
        // The payload type changed after signing.
        let mut v: Value = serde_json::from_slice(&good).unwrap();
        v["payloadType"] = "application/vnd.in-toto+jsonx".into();
        assert!(why(v.to_string().as_bytes()).contains("does not verify"));
        // No key id: every key is tried.
        assert!(matches!(
            check(&envelope(&sk, "", PAYLOAD_TYPE, &statement()), &keys)
                .unwrap()
                .verdict,
            Verdict::Valid { .. }
        ));
        // Not an envelope at all.
        assert!(check(b"{\"a\":1}", &keys).is_err());
        assert!(check(b"not json", &keys).is_err());
    }

    #[test]
    fn p256_der_and_fixed_signatures_verify() {
        use p256::ecdsa::signature::Signer as _;
        use p256::pkcs8::EncodePublicKey as _;
        let sk = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
        let pem = sk
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let key = TrustedKey::from_pem("ec", &pem).unwrap();
        let msg = pae(PAYLOAD_TYPE, &statement());
        let sig: p256::ecdsa::Signature = sk.sign(&msg);
        assert!(key.verify(&msg, sig.to_der().as_bytes()));
        assert!(key.verify(&msg, &sig.to_bytes()));
        assert!(!key.verify(b"other", sig.to_der().as_bytes()));
        assert!(!key.verify(&msg, b"short"));
    }

    #[test]
    fn statements_are_read_strictly() {
        assert!(parse_statement(b"[]").is_err());
        let bad = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
            "subject": [{"name": "a", "digest": {"sha256": "zz"}}]});
        assert!(parse_statement(bad.to_string().as_bytes()).is_err());
        let none = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
            "subject": [{"name": "a", "digest": {"sha512": "ab"}}]});
        assert!(
            parse_statement(none.to_string().as_bytes())
                .unwrap_err()
                .contains("no subject")
        );
        let link = serde_json::json!({"_type": "link", "name": "build",
            "products": {"dist/app": {"sha256": "B".repeat(64)}}, "materials": {}});
        let a = parse_statement(link.to_string().as_bytes()).unwrap();
        assert_eq!(a.subjects[0].sha256, "b".repeat(64));
        assert_eq!(a.builder.as_deref(), Some("build"));
    }

    #[test]
    fn digests_are_normalized() {
        let h = "A".repeat(64);
        assert_eq!(
            parse_digest(&format!("sha256:{h}")).unwrap(),
            "a".repeat(64)
        );
        assert!(parse_digest("sha512:abc").is_err());
    }
}
