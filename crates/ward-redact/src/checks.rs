//! Check-digit and format validators: Luhn, payment-card issuer ranges, US SSN
//! rules, IBAN mod-97, NPI, DEA, ICD-10 shape, Shannon entropy.
//!
//! Every function is pure, allocation-free and takes ASCII digits or bytes;
//! they decide whether a candidate the scanner found is the real thing, which
//! is what keeps the false-positive rate low.

/// Luhn (mod 10) over ASCII digits. Non-digits make it fail.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
}

/// Whether `digits` (13–19 ASCII digits) starts with a real issuer range and
/// has a length that issuer uses. Luhn is checked separately.
pub fn card_issuer(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return false;
    }
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    let p6 = prefix_num(digits, 6);
    // Visa
    if p1 == 4 {
        return matches!(len, 13 | 16 | 19);
    }
    // Mastercard, including the 2-series
    if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        return len == 16;
    }
    // American Express
    if p2 == 34 || p2 == 37 {
        return len == 15;
    }
    // Maestro
    if matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) {
        return (12..=19).contains(&len);
    }
    // Discover
    if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6) {
        return (16..=19).contains(&len);
    }
    // UnionPay
    if p2 == 62 {
        return (16..=19).contains(&len);
    }
    // JCB
    if (3528..=3589).contains(&p4) {
        return (16..=19).contains(&len);
    }
    // Diners Club
    if (300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39 {
        return (14..=19).contains(&len);
    }
    false
}

/// A payment card number: issuer range, length and Luhn.
pub fn card(digits: &[u8]) -> bool {
    card_issuer(digits) && luhn(digits)
}

/// US SSN validity from its three parts (area, group, serial) as ASCII digits:
/// no 000, 666 or 9xx area, no 00 group, no 0000 serial.
pub fn ssn(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    if area.len() != 3 || group.len() != 2 || serial.len() != 4 {
        return false;
    }
    let a = prefix_num(area, 3);
    let g = prefix_num(group, 2);
    let s = prefix_num(serial, 4);
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

/// Known IBAN lengths per country (ISO 13616 registry).
pub fn iban_length(country: &[u8]) -> Option<usize> {
    let len = match country {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    };
    Some(len)
}

/// IBAN check: known country, exact length, uppercase alphanumerics, mod-97 == 1.
/// `iban` has no spaces.
pub fn iban(iban: &[u8]) -> bool {
    if iban.len() < 15 || iban_length(&iban[..2]) != Some(iban.len()) {
        return false;
    }
    if !iban[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let rearranged = iban[4..].iter().chain(iban[..4].iter());
    let mut rem = 0u32;
    for &b in rearranged {
        match b {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(b - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// US National Provider Identifier: 10 digits starting with 1 or 2, Luhn over
/// the number prefixed with 80840.
pub fn npi(digits: &[u8]) -> bool {
    if digits.len() != 10 || !matches!(digits[0], b'1' | b'2') {
        return false;
    }
    let mut buf = [0u8; 15];
    buf[..5].copy_from_slice(b"80840");
    buf[5..].copy_from_slice(digits);
    luhn(&buf)
}

/// DEA registration number: registrant letter, a letter (or 9), seven digits
/// whose last is the check digit.
pub fn dea(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let first_ok = matches!(
        s[0],
        b'A' | b'B'
            | b'C'
            | b'D'
            | b'E'
            | b'F'
            | b'G'
            | b'H'
            | b'J'
            | b'K'
            | b'L'
            | b'M'
            | b'P'
            | b'R'
            | b'S'
            | b'T'
            | b'U'
            | b'X'
    );
    let second_ok = s[1].is_ascii_uppercase() || s[1] == b'9';
    if !first_ok || !second_ok || !s[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u32> = s[2..].iter().map(|&b| u32::from(b - b'0')).collect();
    let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
    check == d[6]
}

/// ICD-10-CM code shape: letter (not U), digit, digit-or-A/B, optional `.`
/// and 1–4 alphanumerics.
pub fn icd10(s: &[u8]) -> bool {
    if s.len() < 3 || s.len() > 8 {
        return false;
    }
    let head_ok = s[0].is_ascii_uppercase()
        && s[0] != b'U'
        && s[1].is_ascii_digit()
        && (s[2].is_ascii_digit() || s[2] == b'A' || s[2] == b'B');
    if !head_ok {
        return false;
    }
    match s.get(3) {
        None => true,
        Some(b'.') => {
            (5..=8).contains(&s.len())
                && s[4..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        }
        Some(_) => false,
    }
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards() {
        for c in [
            "4242424242424242",
            "4111111111111111",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "36227206271667",
            "6200000000000005",
            "6759649826438453",
        ] {
            assert!(card(c.as_bytes()), "{c}");
        }
        assert!(!card(b"4242424242424241"), "luhn");
        assert!(!card(b"9999999999999995"), "issuer");
        assert!(!card(b"1234567812345670"), "issuer");
    }

    #[test]
    fn ssns() {
        assert!(ssn(b"123", b"45", b"6789"));
        assert!(!ssn(b"000", b"45", b"6789"));
        assert!(!ssn(b"666", b"45", b"6789"));
        assert!(!ssn(b"912", b"45", b"6789"));
        assert!(!ssn(b"123", b"00", b"6789"));
        assert!(!ssn(b"123", b"45", b"0000"));
    }

    #[test]
    fn ibans() {
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"FR1420041010050500013M02606"));
        assert!(!iban(b"GB82WEST12345698765433"));
        assert!(!iban(b"GB82WEST1234569876543"));
        assert!(!iban(b"ZZ82WEST12345698765432"));
    }

    #[test]
    fn npi_and_dea() {
        assert!(npi(b"1234567893"));
        assert!(!npi(b"1234567890"));
        assert!(!npi(b"3234567893"));
        assert!(dea(b"AB1234563"));
        assert!(!dea(b"AB1234564"));
        assert!(!dea(b"ZB1234563"));
    }

    #[test]
    fn icd10_shapes() {
        for ok in ["E11.9", "I10", "J45.909", "S72.001A", "Z00.00"] {
            assert!(icd10(ok.as_bytes()), "{ok}");
        }
        for bad in ["U07.1", "E1", "11.9", "E11.", "E11.12345", "e11.9"] {
            assert!(!icd10(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn entropy_orders_randomness() {
        assert!(entropy(b"aaaaaaaa") < 0.01);
        assert!(entropy(b"q8Zk2Lp0Xv7Rb4Nw") > 3.5);
    }
}
