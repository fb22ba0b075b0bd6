//! Wildcard patterns (`*` any run, `?` one character, case-insensitive),
//! compiled once per query into a regex-automata matcher. Matching is
//! linear in the text whatever the pattern: the classic two-pointer glob
//! re-scans the text from each star, so `*a…ab` over a large message took
//! time proportional to pattern × text.

use regex_automata::meta::Regex;

/// A compiled wildcard pattern; equal when the source text is.
#[derive(Clone, Debug)]
pub struct Glob {
    source: String,
    regex: Regex,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Glob {
    /// Compiles a pattern; `Err` when it is too large to compile.
    ///
    /// ```
    /// use ward_store::query::Glob;
    /// let g = Glob::new("adm*n?").unwrap();
    /// assert!(g.is_match("ADMIN1") && g.is_match("admXn1"));
    /// assert!(!g.is_match("admin"));
    /// ```
    pub fn new(pattern: &str) -> Result<Glob, String> {
        // (?i) case-insensitive, (?s) so that `*` and `?` cross newlines;
        // every other character is a literal, written as a hex escape.
        let mut re = String::with_capacity(pattern.len() * 4 + 8);
        re.push_str("(?is)^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c if c.is_alphanumeric() => re.push(c),
                c => re.push_str(&format!("\\x{{{:X}}}", c as u32)),
            }
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| format!("wildcard pattern too large: {e}"))?;
        Ok(Glob {
            source: pattern.to_owned(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_questions_case_and_literals() {
        let g = |p: &str, s: &str| Glob::new(p).unwrap().is_match(s);
        assert!(g("adm*", "Administrator"));
        assert!(g("*min*", "admin"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "abbc"));
        assert!(g("*", ""));
        assert!(!g("adm*x", "admin"));
        assert!(g("web-?1", "WEB-01"));
        assert!(
            g("a.b*", "a.bc") && !g("a.b*", "axbc"),
            "a dot is a literal"
        );
        assert!(g("(x)[y]{z}|+^$\\*", "(x)[y]{z}|+^$\\ and more"));
        assert!(g("l*ne", "li\nne"));
        assert!(g("é*", "Éclair"));
    }

    #[test]
    fn a_pathological_pattern_is_linear() {
        // `*aaaa…ab` against 2 MB of `a`: quadratic for a backtracking glob.
        let pattern = format!("*{}b", "a".repeat(1000));
        let text = "a".repeat(2 << 20);
        let g = Glob::new(&pattern).unwrap();
        let started = std::time::Instant::now();
        assert!(!g.is_match(&text));
        assert!(g.is_match(&format!("{text}b")));
        // A generous bound: the quadratic matcher needs minutes here.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
