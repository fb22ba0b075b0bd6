//! The body of a private key seen without its `-----BEGIN` line: a line of
//! base64 whose decoded bytes are the start of a private key's structure.
//!
//! Only the first body line of a key carries a recognisable structure, and
//! it is checked by decoding, not by its letters: a DER `SEQUENCE` holding a
//! version `INTEGER` and then an `INTEGER` (PKCS#1 RSA, DSA), an
//! `AlgorithmIdentifier` (PKCS#8) or an `OCTET STRING` (SEC1 EC); a DER
//! `EncryptedPrivateKeyInfo` (PKCS#5/PKCS#12 algorithm); the `openssh-key-v1`
//! magic; an OpenPGP secret-key packet. A certificate (`MII…` too, but a
//! `SEQUENCE` inside a `SEQUENCE`) or a public key is not a private key.
//! The lines that follow the first one are random base64 and are found by
//! their position: in the same text by [`verify`], across lines of a stream
//! by [`crate::BlockTracker`].

use base64::Engine as _;

use super::{Hit, run_len};
use crate::kind::Kind;

/// Anchors of a first body line in free text (matched case-insensitively by
/// the shared automaton; [`verify`] checks the case and the structure).
pub const ANCHORS: &[&str] = &["mii", "mig", "mhcc", "mc4c", "b3blbnnzac1rzxktdje"];

/// Shortest base64 run considered: a 32-byte ed25519 PKCS#8 key is 64
/// characters, an encoded RSA or EC key line 64, an OpenSSH line 70.
const MIN_RUN: usize = 40;
/// The longest line of base64 read when looking for the structure.
const PREFIX: usize = 64;

/// Base64 of the standard alphabet (key armor never uses base64url).
pub fn b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Whether `line` (base64, without padding concerns) is the first line of
/// a private key's body.
pub fn is_key_start(line: &[u8]) -> bool {
    if line.len() < MIN_RUN {
        return false;
    }
    // Decode a multiple of 4 characters: the first 48 bytes are enough.
    let take = line.len().min(PREFIX) & !3;
    let Ok(der) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&line[..take]) else {
        return false;
    };
    der.starts_with(b"openssh-key-v1\0") || private_der(&der) || pgp_secret_packet(&der)
}

/// Reads a DER length at `at`; returns (length, bytes used).
fn der_len(d: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = *d.get(at)?;
    match first {
        0..=0x7f => Some((first as usize, 1)),
        0x81 => Some((*d.get(at + 1)? as usize, 2)),
        0x82 => Some((
            u16::from_be_bytes([*d.get(at + 1)?, *d.get(at + 2)?]) as usize,
            3,
        )),
        0x83 => Some((
            u32::from_be_bytes([0, *d.get(at + 1)?, *d.get(at + 2)?, *d.get(at + 3)?]) as usize,
            4,
        )),
        _ => None,
    }
}

/// PKCS#1, SEC1, PKCS#8 and encrypted PKCS#8 private keys.
fn private_der(d: &[u8]) -> bool {
    if d.first() != Some(&0x30) {
        return false;
    }
    let Some((_, n)) = der_len(d, 1) else {
        return false;
    };
    let inner = &d[1 + n..];
    // version INTEGER 0 or 1, then the key (RSA/DSA integers, PKCS#8
    // algorithm, SEC1 octet string).
    if let [0x02, 0x01, 0x00 | 0x01, next, ..] = inner {
        return matches!(next, 0x02 | 0x30 | 0x04);
    }
    // EncryptedPrivateKeyInfo: SEQUENCE { SEQUENCE { OID pkcs5/pkcs12 … } }.
    if inner.first() == Some(&0x30) {
        let Some((_, m)) = der_len(inner, 1) else {
            return false;
        };
        let alg = &inner[1 + m..];
        const PKCS5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
        const PKCS12_PBE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
        return alg.first() == Some(&0x06)
            && alg
                .get(2..)
                .is_some_and(|oid| oid.starts_with(PKCS5) || oid.starts_with(PKCS12_PBE));
    }
    false
}

/// An OpenPGP secret-key (tag 5) or secret-subkey (tag 7) packet, version 4
/// to 6, with a known public-key algorithm.
fn pgp_secret_packet(d: &[u8]) -> bool {
    let Some(&first) = d.first() else {
        return false;
    };
    let (tag, body) = if first & 0xc0 == 0xc0 {
        // New format: tag in the low six bits; length 1, 2 or 5 bytes.
        let len_bytes = match d.get(1) {
            Some(0..=191) => 1,
            Some(192..=223) => 2,
            Some(255) => 5,
            _ => return false,
        };
        (first & 0x3f, 2 + len_bytes - 1)
    } else if first & 0xc0 == 0x80 {
        let len_bytes = match first & 3 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return false,
        };
        ((first >> 2) & 0x0f, 1 + len_bytes)
    } else {
        return false;
    };
    if !matches!(tag, 5 | 7) {
        return false;
    }
    // version, 4-byte creation time, then (v5/v6) a 4-byte length, algorithm.
    let Some(&version) = d.get(body) else {
        return false;
    };
    let algo_at = match version {
        4 => body + 5,
        5 | 6 => body + 9,
        _ => return false,
    };
    d.get(algo_at)
        .is_some_and(|a| matches!(a, 1 | 2 | 3 | 16 | 17 | 18 | 19 | 22 | 25..=28))
}

/// Verifies a first key line at the anchor `s` and extends the hit over the
/// base64 lines that follow it in the same text (the rest of the body,
/// padding included), up to an `-----END` line or anything else.
pub fn verify(bytes: &[u8], s: usize) -> Option<Hit> {
    if s > 0 && (b64(bytes[s - 1]) || bytes[s - 1] == b'=') {
        return None;
    }
    let n = run_len(bytes, s, b64);
    let after = bytes.get(s + n).copied();
    if after.is_some_and(|b| !(b == b'=' || b.is_ascii_whitespace() || is_delim(b))) {
        return None;
    }
    if !is_key_start(&bytes[s..s + n]) {
        return None;
    }
    let mut end = s + n + run_len(bytes, s + n, |b| b == b'=');
    // Following lines: newline (or an escaped `\n`), then one base64 run.
    loop {
        let nl = match bytes.get(end..) {
            Some([b'\r', b'\n', ..]) => 2,
            Some([b'\n', ..]) => 1,
            Some([b'\\', b'n', ..]) => 2,
            _ => break,
        };
        let line = end + nl;
        let m = run_len(bytes, line, b64);
        let pad = run_len(bytes, line + m, |b| b == b'=');
        if m == 0 || m + pad > 76 {
            break;
        }
        let next = bytes.get(line + m + pad).copied();
        // A body line is the whole line: a word followed by a space is prose.
        if next.is_some_and(|b| !matches!(b, b'\n' | b'\r' | b'\\') && !is_delim(b)) {
            break;
        }
        end = line + m + pad;
    }
    Some(Hit {
        start: s,
        end,
        kind: Some(Kind::PrivateKey),
    })
}

/// What may close a base64 value in a log line or JSON.
fn is_delim(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b',' | b';' | b'}' | b']' | b')' | b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    // First body lines of keys made by openssl, ssh-keygen and gpg.
    const RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDG3b9Kx2Yl8aQz";
    const RSA_PKCS1: &str = "MIIEowIBAAKCAQEAtK7mE0oJ6p0m6Tk0Hc2QvNQ2Hy7X3qLw8kXGvTgC9d2vQeJr";
    const EC_SEC1: &str = "MHcCAQEEIGfVnmJ0Y2f1jOaR5sT3vWkQ7LqYb0P8c1mZ4xHdE2nWoAoGCCqGSM49";
    const ED25519: &str = "MC4CAQAwBQYDK2VwBCIEIB6Yt3Hh8m4b7fQeVYkV0z1qH3bE5Wq9c2pR8LxTnA4k";
    const ENC_PKCS8: &str = "MIIFHTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIY+f0aDw8xUICAggA";
    const EC_P384_PKCS8: &str = "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBPpqMSX0zaQfmmP/HJ";
    const OPENSSH: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    const PGP_ED25519: &str = "lFgEaxTJ7xYJKwYBBAHaRw8BAQdA5XSI5fjimlqHHtJuT/VoVskk9xrnatsW3BZ+";
    const PGP_RSA: &str = "lQOYBGsUyfABCADuliVCRy/HQfPFmWYHWSjtUXVuymFTfVIfOwjR5kh7lnFU9JJE";
    // Not private keys.
    const CERT: &str = "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ";
    const PUBKEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo";
    const SSH_PUB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const PGP_PUB: &str = "mDMEaxTJ7xYJKwYBBAHaRw8BAQdA5XSI5fjimlqHHtJuT/VoVskk9xrnatsW3BZ+";

    #[test]
    fn first_lines_of_private_keys() {
        for line in [
            RSA_PKCS8,
            RSA_PKCS1,
            EC_SEC1,
            ED25519,
            ENC_PKCS8,
            EC_P384_PKCS8,
            OPENSSH,
            PGP_ED25519,
            PGP_RSA,
        ] {
            assert!(is_key_start(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn not_private_keys() {
        for line in [
            CERT,
            PUBKEY,
            SSH_PUB,
            PGP_PUB,
            "MIIaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(!is_key_start(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn verify_extends_over_following_lines() {
        let text = format!(
            "dump: {RSA_PKCS8}\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfGhIjKlMnOpQrStUvWxYz01\nq83k==\nnext line here"
        );
        let s = text.find("MII").unwrap();
        let h = verify(text.as_bytes(), s).unwrap();
        assert_eq!(&text[h.end..], "\nnext line here");
        assert!(verify(format!("x{RSA_PKCS8}").as_bytes(), 1).is_none());
    }
}
