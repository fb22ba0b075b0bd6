//! Label matchers in Alertmanager's syntax: `name="value"`, `name!="value"`,
//! `name=~"regex"`, `name!~"regex"`; values may be unquoted when they hold no
//! special characters. Regexes are anchored at both ends, as in Alertmanager,
//! and a missing label matches like the empty string, so `team=""` selects
//! alerts without a team and `team!=""` those with one.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// The longest matcher accepted, and the largest compiled regex.
const MAX_MATCHER_LEN: usize = 4096;
const MAX_REGEX_SIZE: usize = 1 << 20;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    /// The operator as matchers are written: `=`, `!=`, `=~`, `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher from its parts (the API form of a silence).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if !valid_name(name) {
            return Err(format!(
                "label name {name:?} is not valid: use letters, digits, '_' and '.'"
            ));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(MAX_REGEX_SIZE)
                    .build()
                    .map_err(|e| format!("regex for label {name} does not compile: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Parses `name op value`, e.g. `severity=~"high|critical"`.
    pub fn parse(input: &str) -> Result<Matcher, String> {
        if input.len() > MAX_MATCHER_LEN {
            return Err(format!("matcher is longer than {MAX_MATCHER_LEN} bytes"));
        }
        let s = input.trim();
        let name_end = s.find(['=', '!', '~']).ok_or_else(|| {
            "expected an operator (=, !=, =~ or !~) after the label name".to_string()
        })?;
        let name = s[..name_end].trim();
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name);
        let rest = &s[name_end..];
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Equal, r)
        } else {
            return Err(format!(
                "unknown operator at byte {name_end}: expected =, !=, =~ or !~"
            ));
        };
        let value = parse_value(rest.trim())?;
        Matcher::new(name, op, &value)
    }

    /// Whether `labels` satisfy this matcher (a missing label is "").
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

/// Prints the matcher in the syntax [`Matcher::parse`] reads back: the value
/// quoted, with only the escapes the parser knows (`\\`, `\"`, `\n`).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = String::with_capacity(self.value.len() + 2);
        for c in self.value.chars() {
            match c {
                '\\' => value.push_str("\\\\"),
                '"' => value.push_str("\\\""),
                '\n' => value.push_str("\\n"),
                c => value.push(c),
            }
        }
        write!(f, "{}{}\"{value}\"", self.name, self.op.as_str())
    }
}

/// Whether every matcher matches.
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn parse_value(s: &str) -> Result<String, String> {
    let Some(inner) = s.strip_prefix('"') else {
        if s.contains(['"', '{', '}', ',']) {
            return Err(
                "unquoted value holds a quote, brace or comma: put it in double quotes".into(),
            );
        }
        return Ok(s.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                // Other escapes belong to the regex (`\d`, `\.`), keep them.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("value ends inside an escape".into()),
            },
            '"' => {
                if !inner[i + 1..].trim().is_empty() {
                    return Err(format!(
                        "unexpected text after the closing quote at byte {}",
                        i + 2
                    ));
                }
                return Ok(out);
            }
            c => out.push(c),
        }
    }
    Err("value has no closing double quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_alertmanager_syntax() {
        let m = Matcher::parse(r#"severity=~"high|critical""#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Regex, "high|critical")
        );
        assert!(m.matches(&labels(&[("severity", "critical")])));
        assert!(
            !m.matches(&labels(&[("severity", "criticalx")])),
            "regex is anchored"
        );
        let m = Matcher::parse("service.name != checkout").unwrap();
        assert_eq!(m.op, MatchOp::NotEqual);
        assert!(m.matches(&labels(&[])));
        let m = Matcher::parse(r#"msg="say \"hi\"""#).unwrap();
        assert_eq!(m.value, "say \"hi\"");
        let m = Matcher::parse(r#"host=~"db-\d+""#).unwrap();
        assert!(m.matches(&labels(&[("host", "db-12")])));
    }

    #[test]
    fn missing_label_is_empty() {
        assert!(Matcher::parse(r#"team="""#).unwrap().matches(&labels(&[])));
        assert!(!Matcher::parse(r#"team!="""#).unwrap().matches(&labels(&[])));
        assert!(
            Matcher::parse(r#"team!~"a.*""#)
                .unwrap()
                .matches(&labels(&[]))
        );
    }

    #[test]
    fn rejects_bad_matchers_with_reasons() {
        for (input, want) in [
            ("severity", "expected an operator"),
            ("1abc=x", "label name"),
            (r#"a=~"(""#, "does not compile"),
            (r#"a="x"#, "no closing"),
            (r#"a="x" y"#, "after the closing quote"),
            ("a=x,y", "unquoted"),
        ] {
            let err = Matcher::parse(input).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    proptest::proptest! {
        /// Printing a matcher and parsing the text gives the same matcher.
        #[test]
        fn print_then_parse_round_trips(
            name in "[a-zA-Z_][a-zA-Z0-9_.]{0,12}",
            op in proptest::sample::select(vec![MatchOp::Equal, MatchOp::NotEqual]),
            value in "\\PC{0,24}|[ -~\n\t]{0,24}",
        ) {
            let m = Matcher::new(&name, op, &value).unwrap();
            let back = Matcher::parse(&m.to_string()).unwrap();
            proptest::prop_assert_eq!(back, m);
        }

        #[test]
        fn regex_matchers_round_trip(name in "[a-z_]{1,8}", value in "[a-z0-9|.*\\\\]{0,16}") {
            if let Ok(m) = Matcher::new(&name, MatchOp::Regex, &value) {
                let back = Matcher::parse(&m.to_string()).unwrap();
                proptest::prop_assert_eq!(back, m);
            }
        }
    }
}
