//! Value modifiers (the modifiers appendix) and the compilation of one
//! `field|mod|mod: values` item into a [`Leaf`] of value tests.
//!
//! Order matters as in the specification: transformations (`expand`,
//! `windash`, `utf16*`/`wide`, `base64`, `base64offset`) run left to right and
//! produce literal values; `contains`/`startswith`/`endswith` then add
//! wildcards; `all` and `neq` choose how the values combine.

use std::collections::HashMap;

use base64::Engine as _;
use regex::RegexBuilder;

use crate::pattern::{self, StrPattern, Tok};
use crate::yaml::Scalar;

/// A modifier named in a detection key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    ReI,
    ReM,
    ReS,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Cidr,
    Lt,
    Lte,
    Gt,
    Gte,
    Time(TimePart),
    Expand,
    FieldRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Modifier {
    pub fn parse(name: &str) -> Option<Modifier> {
        Some(match name {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "exists" => Modifier::Exists,
            "cased" => Modifier::Cased,
            "neq" => Modifier::Neq,
            "windash" => Modifier::Windash,
            "re" => Modifier::Re,
            "i" => Modifier::ReI,
            "m" => Modifier::ReM,
            "s" => Modifier::ReS,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "utf16le" | "wide" => Modifier::Utf16Le,
            "utf16be" => Modifier::Utf16Be,
            "utf16" => Modifier::Utf16,
            "cidr" => Modifier::Cidr,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "minute" => Modifier::Time(TimePart::Minute),
            "hour" => Modifier::Time(TimePart::Hour),
            "day" => Modifier::Time(TimePart::Day),
            "week" => Modifier::Time(TimePart::Week),
            "month" => Modifier::Time(TimePart::Month),
            "year" => Modifier::Time(TimePart::Year),
            "expand" => Modifier::Expand,
            "fieldref" => Modifier::FieldRef,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl NumOp {
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            NumOp::Eq => a == b,
            NumOp::Lt => a < b,
            NumOp::Lte => a <= b,
            NumOp::Gt => a > b,
            NumOp::Gte => a >= b,
        }
    }
}

/// One test of a field value.
#[derive(Debug, Clone)]
pub enum ValueTest {
    Str(Box<StrPattern>),
    /// A regular expression and, when they can be derived, literals one
    /// of which (lowercased) occurs in every match: its prefilter trigger.
    Regex(regex::Regex, Option<Vec<String>>),
    Num(NumOp, f64),
    Cidr(ipnet::IpNet),
    /// Field absent or null.
    Null,
    Exists(bool),
    /// Equal (or prefix/suffix/contains) to another field of the same event.
    FieldRef {
        field: String,
        kind: pattern::StrKind,
        cased: bool,
    },
    Time(TimePart, NumOp, i64),
    /// An unresolved placeholder: never matches.
    Never,
}

/// A compiled detection item: a field (or keywords when `field` is None)
/// and its value tests.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub field: Option<String>,
    pub tests: Vec<ValueTest>,
    /// All tests must hold (`|all`), else any.
    pub all: bool,
    /// `|neq`: the result is negated.
    pub negate: bool,
    pub line: usize,
}

const MAX_WINDASH_VARIANTS: usize = 256;
const WINDASH_CHARS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn windash(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut prev: Option<char> = None;
    for c in value.chars() {
        let dash = WINDASH_CHARS.contains(&c) && prev.is_none_or(|p| !p.is_alphanumeric());
        if dash && out.len() * WINDASH_CHARS.len() <= MAX_WINDASH_VARIANTS {
            out = out
                .iter()
                .flat_map(|s| WINDASH_CHARS.iter().map(move |d| format!("{s}{d}")))
                .collect();
        } else {
            for s in &mut out {
                s.push(c);
            }
        }
        prev = Some(c);
    }
    out
}

fn base64offset(bytes: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let start_trim = [0usize, 2, 3];
    let end_trim = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![0u8; i];
            shifted.extend_from_slice(bytes);
            let enc = b64.encode(&shifted);
            let end = enc.len() - end_trim[(bytes.len() + i) % 3];
            enc.get(start_trim[i]..end).unwrap_or("").to_string()
        })
        .collect()
}

fn expand(value: &str, placeholders: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    let mut results = vec![String::new()];
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        // `\%` is a plain percent sign.
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            for r in &mut results {
                r.push_str(&rest[..start - 1]);
                r.push('%');
            }
            rest = &rest[start + 1..];
            continue;
        }
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else { break };
        let name = &after[..end];
        let values = placeholders.get(name)?;
        results = results
            .iter()
            .flat_map(|r| {
                values
                    .iter()
                    .map(move |v| format!("{r}{}{v}", &rest[..start]))
            })
            .collect();
        rest = &after[end + 1..];
    }
    for r in &mut results {
        r.push_str(rest);
    }
    Some(results)
}

/// Compiles `field|modifiers: values`.
pub fn compile_leaf(
    field: Option<&str>,
    modifiers: &[Modifier],
    values: &[Scalar],
    placeholders: &HashMap<String, Vec<String>>,
    line: usize,
) -> Result<Leaf, String> {
    let has = |m: Modifier| modifiers.contains(&m);
    let cased = has(Modifier::Cased);
    let mut tests = Vec::new();
    let num_op = modifiers.iter().find_map(|m| match m {
        Modifier::Lt => Some(NumOp::Lt),
        Modifier::Lte => Some(NumOp::Lte),
        Modifier::Gt => Some(NumOp::Gt),
        Modifier::Gte => Some(NumOp::Gte),
        _ => None,
    });
    let time = modifiers.iter().find_map(|m| {
        if let Modifier::Time(p) = m {
            Some(*p)
        } else {
            None
        }
    });
    let str_kind = if has(Modifier::Contains) {
        pattern::StrKind::Contains
    } else if has(Modifier::StartsWith) {
        pattern::StrKind::Prefix
    } else if has(Modifier::EndsWith) {
        pattern::StrKind::Suffix
    } else {
        pattern::StrKind::Exact
    };
    if has(Modifier::Re)
        && (has(Modifier::Contains) || has(Modifier::StartsWith) || has(Modifier::EndsWith))
    {
        return Err("`re` cannot be combined with contains/startswith/endswith".into());
    }
    if (has(Modifier::ReI) || has(Modifier::ReM) || has(Modifier::ReS)) && !has(Modifier::Re) {
        return Err("regex flags i/m/s need the `re` modifier".into());
    }
    if field.is_none() && (has(Modifier::Exists) || has(Modifier::FieldRef)) {
        return Err("`exists` and `fieldref` need a field name".into());
    }
    for value in values {
        if has(Modifier::Exists) {
            match value {
                Scalar::Bool(b) => tests.push(ValueTest::Exists(*b)),
                _ => return Err("`exists` takes true or false".into()),
            }
            continue;
        }
        if matches!(value, Scalar::Null) {
            tests.push(ValueTest::Null);
            continue;
        }
        if let Some(part) = time {
            let n = match value {
                Scalar::Int(i) => *i,
                _ => return Err("time modifiers take an integer".into()),
            };
            tests.push(ValueTest::Time(part, num_op.unwrap_or(NumOp::Eq), n));
            continue;
        }
        if let Some(op) = num_op {
            let n = match value {
                Scalar::Int(i) => *i as f64,
                Scalar::Float(f) => *f,
                Scalar::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("`{s}` is not a number"))?,
                _ => return Err("numeric modifiers take a number".into()),
            };
            tests.push(ValueTest::Num(op, n));
            continue;
        }
        let text = value.as_text();
        if has(Modifier::Cidr) {
            let net = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{text}` is not a CIDR network"))?;
            tests.push(ValueTest::Cidr(net));
            continue;
        }
        if has(Modifier::FieldRef) {
            tests.push(ValueTest::FieldRef {
                field: text,
                kind: str_kind,
                cased,
            });
            continue;
        }
        if has(Modifier::Re) {
            let re = RegexBuilder::new(&text)
                .case_insensitive(has(Modifier::ReI))
                .multi_line(has(Modifier::ReM))
                .dot_matches_new_line(has(Modifier::ReS))
                .size_limit(1 << 22)
                .build()
                .map_err(|e| format!("invalid regular expression: {e}"))?;
            let literals = regex_literals(
                &text,
                has(Modifier::ReI),
                has(Modifier::ReM),
                has(Modifier::ReS),
            );
            tests.push(ValueTest::Regex(re, literals));
            continue;
        }
        tests.extend(string_tests(
            &text,
            modifiers,
            str_kind,
            cased,
            placeholders,
        )?);
    }
    let all = has(Modifier::All);
    Ok(Leaf {
        field: field.map(str::to_string),
        tests,
        all,
        negate: has(Modifier::Neq),
        line,
    })
}

fn string_tests(
    text: &str,
    modifiers: &[Modifier],
    kind: pattern::StrKind,
    cased: bool,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Vec<ValueTest>, String> {
    // Each value: its tokens, and whether it is still a Sigma string
    // (wildcards live) or already an encoded literal.
    let mut values: Vec<Vec<Tok>> = vec![pattern::tokenize(text)];
    let mut encoded: Option<Vec<Vec<u8>>> = None;
    for m in modifiers {
        match m {
            Modifier::Expand => {
                let Some(expanded) = expand(text, placeholders) else {
                    return Ok(vec![ValueTest::Never]);
                };
                values = expanded.iter().map(|v| pattern::tokenize(v)).collect();
            }
            Modifier::Windash => {
                values = values
                    .iter()
                    .flat_map(|toks| {
                        // windash works on the literal text between wildcards
                        let s: String = toks.iter().map(tok_char).collect();
                        windash(&s).into_iter().map(|v| retokenize(&v, toks))
                    })
                    .collect();
            }
            Modifier::Utf16Le | Modifier::Utf16Be | Modifier::Utf16 => {
                let base: Vec<Vec<u8>> = match encoded.take() {
                    Some(e) => e,
                    None => values.iter().map(|t| plain_text(t).into_bytes()).collect(),
                };
                encoded = Some(
                    base.iter()
                        .map(|b| {
                            let s = String::from_utf8_lossy(b);
                            let mut out = Vec::new();
                            if *m == Modifier::Utf16 {
                                out.extend_from_slice(&[0xFF, 0xFE]);
                            }
                            for u in s.encode_utf16() {
                                let [lo, hi] = u.to_le_bytes();
                                if *m == Modifier::Utf16Be {
                                    out.extend_from_slice(&[hi, lo]);
                                } else {
                                    out.extend_from_slice(&[lo, hi]);
                                }
                            }
                            out
                        })
                        .collect(),
                );
            }
            Modifier::Base64 | Modifier::Base64Offset => {
                let base: Vec<Vec<u8>> = match encoded.take() {
                    Some(e) => e,
                    None => values.iter().map(|t| plain_text(t).into_bytes()).collect(),
                };
                let strings: Vec<String> = if *m == Modifier::Base64 {
                    base.iter()
                        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                        .collect()
                } else {
                    base.iter().flat_map(|b| base64offset(b)).collect()
                };
                values = strings.iter().map(|s| pattern::literal(s)).collect();
            }
            _ => {}
        }
    }
    if let Some(bytes) = encoded {
        // utf16 without base64: match the bytes as (Latin-1) characters
        values = bytes
            .iter()
            .map(|b| b.iter().map(|&c| Tok::Lit(char::from(c))).collect())
            .collect();
    }
    values
        .into_iter()
        .map(|mut toks| {
            match kind {
                pattern::StrKind::Contains => {
                    if toks.first() != Some(&Tok::Star) {
                        toks.insert(0, Tok::Star);
                    }
                    if toks.len() < 2 || toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                pattern::StrKind::Prefix if toks.last() != Some(&Tok::Star) => {
                    toks.push(Tok::Star);
                }
                pattern::StrKind::Suffix if toks.first() != Some(&Tok::Star) => {
                    toks.insert(0, Tok::Star);
                }
                _ => {}
            }
            StrPattern::compile(&toks, cased).map(|p| ValueTest::Str(Box::new(p)))
        })
        .collect()
}

/// Literals one of which occurs in every match of `pattern` (lowercased,
/// so they can be searched in the lowercased field value), or None when
/// there is no finite, non-empty set of them: the better of the literals
/// that begin every match and those required inside it (`\w+`(\w+)`` has
/// no prefix but always contains a backtick).
fn regex_literals(pattern: &str, i: bool, m: bool, s: bool) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .build()
        .parse(pattern)
        .ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(256);
    let seq = extractor.extract(&hir);
    let prefix = seq.literals().and_then(|lits| {
        let mut out: Vec<String> = Vec::new();
        for lit in lits {
            let text = std::str::from_utf8(lit.as_bytes()).ok()?;
            out.push(text.to_lowercase());
        }
        literal_set(out)
    });
    let inner = required_literals(&hir, 0);
    match (prefix, inner) {
        (Some(a), Some(b)) => Some(if set_score(&b) > set_score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Sorted, deduplicated, and None if empty or holding an empty literal.
fn literal_set(mut out: Vec<String>) -> Option<Vec<String>> {
    if out.is_empty() || out.iter().any(String::is_empty) {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// Selectivity of a literal set: long shortest literal, then few literals.
fn set_score(set: &[String]) -> (usize, usize) {
    (
        set.iter()
            .map(|l| l.chars().count())
            .min()
            .unwrap_or(0)
            .min(8),
        usize::MAX - set.len(),
    )
}

const MAX_REQUIRED: usize = 64;

/// The lowercase text of an expression that matches exactly one string up
/// to case: a literal, or a class of the case variants of one character.
fn single_text(h: &regex_syntax::hir::Hir) -> Option<String> {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Literal(l) => std::str::from_utf8(&l.0).ok().map(str::to_lowercase),
        HirKind::Class(Class::Unicode(c)) => {
            let mut chars = c.iter().flat_map(|r| r.start()..=r.end());
            let first: String = chars.next()?.to_lowercase().collect();
            let mut n = 1;
            for ch in chars {
                n += 1;
                if n > 4 || ch.to_lowercase().collect::<String>() != first {
                    return None;
                }
            }
            Some(first)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut bytes = c.iter().flat_map(|r| r.start()..=r.end());
            let first = bytes.next()?;
            if !first.is_ascii() {
                return None;
            }
            bytes
                .all(|b| b.eq_ignore_ascii_case(&first))
                .then(|| char::from(first.to_ascii_lowercase()).to_string())
        }
        HirKind::Capture(c) => single_text(&c.sub),
        _ => None,
    }
}

/// Literals one of which every match of `h` contains.
fn required_literals(h: &regex_syntax::hir::Hir, depth: usize) -> Option<Vec<String>> {
    use regex_syntax::hir::HirKind;
    if depth > 32 {
        return None;
    }
    if let Some(t) = single_text(h) {
        return literal_set(vec![t]);
    }
    match h.kind() {
        HirKind::Capture(c) => required_literals(&c.sub, depth + 1),
        HirKind::Repetition(r) if r.min >= 1 => required_literals(&r.sub, depth + 1),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(required_literals(a, depth + 1)?);
                if out.len() > MAX_REQUIRED {
                    return None;
                }
            }
            literal_set(out)
        }
        HirKind::Concat(items) => {
            // Adjacent single-text members form one literal run; any member
            // (or run) is required, the most selective one is kept.
            let mut best: Option<Vec<String>> = None;
            let mut keep = |cand: Option<Vec<String>>| {
                if let Some(c) = cand
                    && best.as_ref().is_none_or(|b| set_score(&c) > set_score(b))
                {
                    best = Some(c);
                }
            };
            let mut run = String::new();
            for it in items {
                if let Some(t) = single_text(it) {
                    run.push_str(&t);
                    continue;
                }
                keep(literal_set(vec![std::mem::take(&mut run)]));
                keep(required_literals(it, depth + 1));
            }
            keep(literal_set(vec![run]));
            best
        }
        _ => None,
    }
}

fn tok_char(t: &Tok) -> char {
    match t {
        Tok::Lit(c) => *c,
        // Wildcards are kept in place through windash by marker characters
        // outside the dash set.
        Tok::Star => '\u{E000}',
        Tok::Any => '\u{E001}',
    }
}

fn retokenize(s: &str, _orig: &[Tok]) -> Vec<Tok> {
    s.chars()
        .map(|c| match c {
            '\u{E000}' => Tok::Star,
            '\u{E001}' => Tok::Any,
            c => Tok::Lit(c),
        })
        .collect()
}

fn plain_text(toks: &[Tok]) -> String {
    toks.iter()
        .filter_map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windash_variants() {
        let v = windash(" -enc");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&" /enc".to_string()));
        assert_eq!(windash("a-b"), vec!["a-b".to_string()]);
    }

    #[test]
    fn base64offset_matches_pysigma() {
        // Values from the Sigma documentation for "/bin/bash".
        assert_eq!(
            base64offset(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn regex_prefix_literals() {
        assert_eq!(
            regex_literals(r"ipconfig\s+/all", false, false, false),
            Some(vec!["ipconfig".to_string()])
        );
        assert_eq!(
            regex_literals(r"(?i)ab|cd", false, false, false),
            Some(vec!["ab".to_string(), "cd".to_string()])
        );
        assert_eq!(
            regex_literals(r".*x", false, false, false),
            Some(vec!["x".to_string()])
        );
        assert_eq!(regex_literals(r"\w+\s*\d?", false, false, false), None);
        // Required inside, not at the start.
        assert_eq!(
            regex_literals(r"\w+`(?:\w+|-|.)`[\w+|\s]", false, false, false),
            Some(vec!["`".to_string()])
        );
        assert_eq!(
            regex_literals(
                r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe"#,
                false,
                false,
                false
            ),
            // Not longer: under (?i) `s` also matches U+017F, whose
            // lowercase is itself, so the run stops before it.
            Some(vec!["werfault".to_string()])
        );
        assert_eq!(
            regex_literals(r"[0-9]+(ab|Cd)x?", false, false, false),
            Some(vec!["ab".to_string(), "cd".to_string()])
        );
        assert_eq!(regex_literals(r"a?b*", false, false, false), None);
    }

    #[test]
    fn expand_placeholders() {
        let mut p = HashMap::new();
        p.insert("Admins".to_string(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            expand("x%Admins%y", &p),
            Some(vec!["xay".to_string(), "xby".to_string()])
        );
        assert_eq!(expand("%Nope%", &p), None);
    }
}
