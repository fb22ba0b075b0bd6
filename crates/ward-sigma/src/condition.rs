//! The condition language of a detection: `and`, `or`, `not`, parentheses,
//! `1 of sel*`, `all of them`, `N of filter_*`.
//!
//! Parsing yields a tree over selection names; [`Condition::resolve`] binds
//! names (and `*` patterns) to selection indices, so evaluation never looks
//! up strings. Precedence: `not` > `and` > `or`. Expressions are bounded in
//! length and nesting.

const MAX_CONDITION_BYTES: usize = 16 * 1024;
const MAX_NESTING: usize = 64;

/// How many of a group of selections must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Quantifier {
    All,
    AtLeast(usize),
}

/// A parsed condition over selection names.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Ident(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    /// `1 of sel*`, `all of them`: the pattern is `them` or a name with `*`.
    Of(Quantifier, String),
}

/// A condition bound to selection indices.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Bound {
    Sel(usize),
    Not(Box<Bound>),
    And(Vec<Bound>),
    Or(Vec<Bound>),
    Of(Quantifier, Vec<usize>),
    /// `1 of x*` where nothing matches: false (and `all of` an empty set).
    Const(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    All,
    Count(usize),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    if text.len() > MAX_CONDITION_BYTES {
        return Err(format!(
            "condition is longer than {MAX_CONDITION_BYTES} bytes"
        ));
    }
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            tokens.push(Token::LParen);
            chars.next();
        } else if c == ')' {
            tokens.push(Token::RParen);
            chars.next();
        } else if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
                    end = i + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &text[start..end];
            tokens.push(match word.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                "of" => Token::Of,
                "all" => Token::All,
                "any" => Token::Count(1),
                _ => match word.parse::<usize>() {
                    Ok(n) => Token::Count(n),
                    Err(_) => Token::Word(word.to_string()),
                },
            });
        } else if c == '|' {
            return Err(format!(
                "unsupported pipe at byte {start}: aggregations in conditions are obsolete, use a correlation rule"
            ));
        } else {
            return Err(format!("unexpected character {c:?} at byte {start}"));
        }
    }
    Ok(tokens)
}

struct ConditionParser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl ConditionParser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Condition, String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err("condition nests deeper than 64 levels".into());
        }
        let result = match self.next() {
            Some(Token::Not) => Ok(Condition::Not(Box::new(self.unary()?))),
            Some(Token::LParen) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    _ => Err("missing closing parenthesis".into()),
                }
            }
            Some(Token::All) => self.of(Quantifier::All),
            Some(Token::Count(n)) => self.of(Quantifier::AtLeast(n)),
            Some(Token::Word(w)) => Ok(Condition::Ident(w)),
            Some(t) => Err(format!("unexpected {t:?} in condition")),
            None => Err("condition ends too early".into()),
        };
        self.depth -= 1;
        result
    }

    fn of(&mut self, q: Quantifier) -> Result<Condition, String> {
        if self.next() != Some(Token::Of) {
            return Err("expected `of` after a quantifier".into());
        }
        match self.next() {
            Some(Token::Word(w)) => Ok(Condition::Of(q, w)),
            _ => Err("expected a selection name, pattern or `them` after `of`".into()),
        }
    }
}

impl Condition {
    /// Parses a condition expression.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let mut p = ConditionParser {
            tokens: tokenize(text)?,
            pos: 0,
            depth: 0,
        };
        if p.tokens.is_empty() {
            return Err("empty condition".into());
        }
        let cond = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!(
                "unexpected {:?} after the end of the condition",
                p.tokens[p.pos]
            ));
        }
        Ok(cond)
    }

    /// Binds names to indices of `names`; reports an unknown name.
    pub fn resolve(&self, names: &[String]) -> Result<Bound, String> {
        Ok(match self {
            Condition::Ident(n) => match names.iter().position(|x| x == n) {
                Some(i) => Bound::Sel(i),
                None => return Err(format!("condition refers to unknown selection `{n}`")),
            },
            Condition::Not(c) => Bound::Not(Box::new(c.resolve(names)?)),
            Condition::And(cs) => Bound::And(
                cs.iter()
                    .map(|c| c.resolve(names))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Or(cs) => Bound::Or(
                cs.iter()
                    .map(|c| c.resolve(names))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Of(q, pattern) => {
                let picked: Vec<usize> = names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| name_matches(pattern, n))
                    .map(|(i, _)| i)
                    .collect();
                if picked.is_empty() {
                    return Err(format!("`of {pattern}` matches no selection"));
                }
                Bound::Of(*q, picked)
            }
        })
    }

    /// Names referred to directly or through a pattern, for the lint.
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Condition::Ident(n) => n == name,
            Condition::Not(c) => c.mentions(name),
            Condition::And(cs) | Condition::Or(cs) => cs.iter().any(|c| c.mentions(name)),
            Condition::Of(_, p) => name_matches(p, name),
        }
    }
}

/// `them` picks every selection not starting with `_`; otherwise `*` globs.
fn name_matches(pattern: &str, name: &str) -> bool {
    if pattern == "them" {
        return !name.starts_with('_');
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl Bound {
    /// Evaluates with a selection oracle.
    pub fn eval(&self, sel: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Bound::Sel(i) => sel(*i),
            Bound::Not(c) => !c.eval(sel),
            Bound::And(cs) => cs.iter().all(|c| c.eval(sel)),
            Bound::Or(cs) => cs.iter().any(|c| c.eval(sel)),
            Bound::Of(Quantifier::All, ids) => ids.iter().all(|i| sel(*i)),
            Bound::Of(Quantifier::AtLeast(n), ids) => {
                let mut hits = 0;
                for i in ids {
                    if sel(*i) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                *n == 0
            }
            Bound::Const(b) => *b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_quantifiers() {
        let c = Condition::parse("sel and not filter_a or 1 of x*").unwrap();
        let b = c.resolve(&names(&["sel", "filter_a", "x1", "x2"])).unwrap();
        let eval = |hits: &[usize]| b.eval(&mut |i| hits.contains(&i));
        assert!(eval(&[0]));
        assert!(!eval(&[0, 1]));
        assert!(eval(&[1, 3]));
        assert!(!eval(&[1]));
    }

    #[test]
    fn them_skips_underscore() {
        let c = Condition::parse("all of them").unwrap();
        let b = c.resolve(&names(&["a", "_b"])).unwrap();
        assert!(b.eval(&mut |i| i == 0));
    }

    #[test]
    fn errors() {
        assert!(Condition::parse("a and").is_err());
        assert!(Condition::parse("(a").is_err());
        assert!(Condition::parse("a | count() > 5").is_err());
        assert!(
            Condition::parse("a")
                .unwrap()
                .resolve(&names(&["b"]))
                .is_err()
        );
    }
}
