//! String patterns of Sigma values: wildcards `*` `?`, the backslash escape,
//! and their classification into the cheap forms (exact, prefix, suffix,
//! contains) that the literal automaton handles.
//!
//! Invariant: a case-insensitive pattern stores its needle lowercased and is
//! matched against the lowercased field value; only patterns with inner
//! wildcards fall back to a (linear-time) regular expression.

use regex::Regex;

/// One token of a Sigma string value.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Lit(char),
    Star,
    Any,
}

/// Splits a Sigma string into literal characters and wildcards, applying
/// the escape rules of the specification (`\*`, `\?`, `\\`; any other
/// backslash is literal).
pub fn tokenize(value: &str) -> Vec<Tok> {
    let mut out = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Tok::Lit(n));
                }
                _ => out.push(Tok::Lit('\\')),
            },
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::Any),
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

/// Literal tokens of a plain string (after encoding modifiers).
pub fn literal(value: &str) -> Vec<Tok> {
    value.chars().map(Tok::Lit).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StrKind {
    Exact,
    Prefix,
    Suffix,
    Contains,
    /// `*` alone: any present, non-null value.
    Any,
}

/// A compiled string pattern.
#[derive(Debug, Clone)]
pub struct StrPattern {
    pub kind: StrKind,
    /// Lowercased unless `cased`.
    pub needle: String,
    pub cased: bool,
    /// Inner wildcards: matched by this anchored regex instead of `kind`.
    pub glob: Option<Regex>,
    /// Substring searcher for `Contains`, built once.
    finder: memchr::memmem::Finder<'static>,
}

impl StrPattern {
    pub fn compile(tokens: &[Tok], cased: bool) -> Result<StrPattern, String> {
        let lead = tokens.first() == Some(&Tok::Star);
        let trail = tokens.len() > 1 && tokens.last() == Some(&Tok::Star);
        let inner = &tokens[usize::from(lead)..tokens.len() - usize::from(trail)];
        let simple = inner.iter().all(|t| matches!(t, Tok::Lit(_)));
        let text: String = inner
            .iter()
            .filter_map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None })
            .collect();
        let needle = if cased {
            text.clone()
        } else {
            text.to_lowercase()
        };
        if tokens.iter().all(|t| *t == Tok::Star) && !tokens.is_empty() {
            return Ok(StrPattern {
                kind: StrKind::Any,
                needle: String::new(),
                cased,
                glob: None,
                finder: memchr::memmem::Finder::new(b"").into_owned(),
            });
        }
        let kind = match (lead, trail) {
            (false, false) => StrKind::Exact,
            (false, true) => StrKind::Prefix,
            (true, false) => StrKind::Suffix,
            (true, true) => StrKind::Contains,
        };
        if simple {
            let finder = memchr::memmem::Finder::new(needle.as_bytes()).into_owned();
            return Ok(StrPattern {
                kind,
                needle,
                cased,
                glob: None,
                finder,
            });
        }
        let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
        for t in tokens {
            match t {
                Tok::Lit(c) => re.push_str(&regex::escape(&c.to_string())),
                Tok::Star => re.push_str(".*"),
                Tok::Any => re.push('.'),
            }
        }
        re.push('$');
        let glob = Regex::new(&re).map_err(|e| format!("wildcard pattern too complex: {e}"))?;
        // The longest literal run is the prefilter needle; `Contains` keeps
        // the prefilter sound whatever the wildcards around it.
        let longest = tokens
            .split(|t| !matches!(t, Tok::Lit(_)))
            .max_by_key(|run| run.len())
            .map(|run| {
                run.iter()
                    .filter_map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None })
                    .collect::<String>()
            })
            .unwrap_or_default();
        let needle = if cased {
            longest
        } else {
            longest.to_lowercase()
        };
        Ok(StrPattern {
            kind: StrKind::Contains,
            finder: memchr::memmem::Finder::new(needle.as_bytes()).into_owned(),
            needle,
            cased,
            glob: Some(glob),
        })
    }

    /// Matches a field text; its lowercase form is computed only when
    /// needed (ASCII text compares exact, prefix and suffix patterns
    /// ignoring ASCII case: the needle is lowercase).
    pub(crate) fn matches_text(&self, t: &crate::engine::Text<'_>) -> bool {
        if self.glob.is_none() && !self.cased && t.raw.is_ascii() {
            let hay = t.raw.as_bytes();
            let n = self.needle.as_bytes();
            match self.kind {
                StrKind::Exact => return hay.eq_ignore_ascii_case(n),
                StrKind::Prefix => {
                    return hay.len() >= n.len()
                        && hay
                            .get(..n.len())
                            .is_some_and(|h| h.eq_ignore_ascii_case(n));
                }
                StrKind::Suffix => {
                    return hay.len() >= n.len()
                        && hay
                            .get(hay.len() - n.len()..)
                            .is_some_and(|h| h.eq_ignore_ascii_case(n));
                }
                StrKind::Any => return true,
                StrKind::Contains => {}
            }
        }
        if self.cased {
            return self.matches(&t.raw, &t.raw);
        }
        self.matches(&t.raw, t.lower())
    }

    /// Matches `value` (raw) with `lower` (its lowercase form).
    pub fn matches(&self, raw: &str, lower: &str) -> bool {
        if let Some(glob) = &self.glob {
            // The needle is a literal run every match contains: a substring
            // search rejects most values before the regex runs. Without
            // `cased` this holds only for ASCII needle and value, where the
            // regex's case folding equals ASCII lowercasing.
            let hay = if self.cased {
                Some(raw)
            } else if self.needle.is_ascii() && raw.is_ascii() {
                Some(lower)
            } else {
                None
            };
            if let Some(hay) = hay
                && self.finder.find(hay.as_bytes()).is_none()
            {
                return false;
            }
            return glob.is_match(raw);
        }
        let hay = if self.cased { raw } else { lower };
        match self.kind {
            StrKind::Exact => hay == self.needle,
            StrKind::Prefix => hay.starts_with(&self.needle),
            StrKind::Suffix => hay.ends_with(&self.needle),
            StrKind::Contains => self.finder.find(hay.as_bytes()).is_some(),
            StrKind::Any => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        StrPattern::compile(&tokenize(p), false)
            .unwrap()
            .matches(v, &v.to_lowercase())
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(m("*\\cmd.exe", "C:\\Windows\\CMD.EXE"));
        assert!(m("prog?.exe", "progA.exe"));
        assert!(!m("prog?.exe", "prog.exe"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\\\*", "a\\xyz"));
        assert!(m("*", ""));
        assert!(m("C:\\\\Windows", "c:\\windows"));
        assert!(m("*a*b*", "xxAyyBzz"));
    }

    #[test]
    fn cased_pattern() {
        let p = StrPattern::compile(&tokenize("Foo*"), true).unwrap();
        assert!(p.matches("Foobar", "foobar"));
        assert!(!p.matches("foobar", "foobar"));
    }
}
