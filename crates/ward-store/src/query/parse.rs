//! Recursive-descent parser for the query language (see the module docs of
//! [`crate::query`]). Works on characters so that error positions are
//! character positions.

use super::{
    Aggregation, Bound, Expr, MAX_DEPTH, MAX_QUERY_LEN, Pattern, Predicate, Query, QueryError,
    Scalar,
};

/// Parses a query.
///
/// ```
/// use ward_store::query::{parse, Aggregation};
/// let q = parse("user.name:adm* AND NOT source.ip:10.0.0.0/8 | count by host.name").unwrap();
/// assert_eq!(q.aggregation, Some(Aggregation::CountBy("host.name".into())));
/// let err = parse("user.name:(").unwrap_err();
/// assert_eq!(err.position, 10);
/// ```
pub fn parse(q: &str) -> Result<Query, QueryError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(QueryError {
            position: MAX_QUERY_LEN,
            expected: format!("a query of at most {MAX_QUERY_LEN} bytes"),
            found: format!("{} bytes", q.len()),
        });
    }
    let mut p = Parser {
        chars: q.chars().collect(),
        pos: 0,
        depth: 0,
    };
    p.ws();
    let expr = if p.at_end() || p.peek() == Some('|') {
        Expr::All
    } else {
        p.or_expr()?
    };
    p.ws();
    let aggregation = if p.peek() == Some('|') {
        p.pos += 1;
        Some(p.aggregation()?)
    } else {
        None
    };
    p.ws();
    if !p.at_end() {
        return Err(p.error("end of query or an operator (AND, OR, |)"));
    }
    Ok(Query { expr, aggregation })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

const SPECIAL: &[char] = &['(', ')', '"', '|', '[', ']', '{', '}'];

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of query".to_owned(),
            Some(c) => {
                let word: String = self.chars[self.pos..].iter().take(12).collect();
                if c.is_alphanumeric() {
                    format!("'{}'", word.split_whitespace().next().unwrap_or(""))
                } else {
                    format!("'{c}'")
                }
            }
        }
    }

    fn error(&self, expected: &str) -> QueryError {
        QueryError {
            position: self.pos,
            expected: expected.to_owned(),
            found: self.found(),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let n = kw.chars().count();
        let end = self.pos + n;
        if end > self.chars.len() {
            return false;
        }
        let matches = self.chars[self.pos..end].iter().copied().eq(kw.chars());
        let boundary = self
            .chars
            .get(end)
            .is_none_or(|c| c.is_whitespace() || *c == '(' || *c == ')');
        if matches && boundary {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.ws();
            if self.keyword("OR") {
                self.ws();
                items.push(self.and_expr()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary()?];
        loop {
            self.ws();
            match self.peek() {
                None | Some(')') | Some('|') => break,
                _ => {}
            }
            let save = self.pos;
            if self.keyword("OR") {
                self.pos = save;
                break;
            }
            if self.keyword("AND") {
                self.ws();
            }
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        self.ws();
        if self.keyword("NOT")
            || self.peek() == Some('-') && {
                self.pos += 1;
                true
            }
        {
            self.enter()?;
            self.ws();
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        match self.peek() {
            None => Err(self.error("a search term, a field:value, '(' or NOT")),
            Some('(') => {
                self.pos += 1;
                self.enter()?;
                self.ws();
                let e = self.or_expr()?;
                self.ws();
                if self.peek() != Some(')') {
                    return Err(self.error("')'"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some('"') => Ok(Expr::Text(Pattern::Phrase(self.quoted()?))),
            Some(c) if SPECIAL.contains(&c) || c == ':' => {
                Err(self.error("a search term, a field:value, '(' or NOT"))
            }
            Some(_) => {
                let start = self.pos;
                let word = self.word(&[':']);
                if self.peek() == Some(':') {
                    if !valid_field(&word) {
                        self.pos = start;
                        return Err(
                            self.error("a field name (letters, digits, '.', '_', '@', '-')")
                        );
                    }
                    self.pos += 1;
                    let pred = self.predicate()?;
                    return Ok(Expr::Field { field: word, pred });
                }
                // A bare `*` is every event, as in Lucene: read as free text
                // it would parse each event whole to find any string value.
                if word.chars().all(|c| c == '*') {
                    return Ok(Expr::All);
                }
                pattern(word)
                    .map(Expr::Text)
                    .map_err(|why| self.error(&format!("a smaller pattern ({why})")))
            }
        }
    }

    /// A bare word: up to whitespace, a special character or one of `stop`.
    fn word(&mut self, stop: &[char]) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || SPECIAL.contains(&c) || stop.contains(&c) {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn quoted(&mut self) -> Result<String, QueryError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(QueryError {
                        position: open,
                        expected: "a closing '\"' for the phrase opened here".into(),
                        found: "end of query".into(),
                    });
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn predicate(&mut self) -> Result<Predicate, QueryError> {
        match self.peek() {
            Some('"') => Ok(Predicate::Match(Pattern::Phrase(self.quoted()?))),
            Some('[') | Some('{') => self.range(),
            Some('>') | Some('<') => {
                let less = self.peek() == Some('<');
                self.pos += 1;
                let inclusive = self.peek() == Some('=');
                if inclusive {
                    self.pos += 1;
                }
                let at = self.pos;
                let w = self.word(&[]);
                if w.is_empty() {
                    return Err(self.error("a value after the comparison"));
                }
                let bound = Some(Bound {
                    value: scalar(&w, at)?,
                    inclusive,
                });
                Ok(if less {
                    Predicate::Range {
                        lo: None,
                        hi: bound,
                    }
                } else {
                    Predicate::Range {
                        lo: bound,
                        hi: None,
                    }
                })
            }
            _ => {
                let w = self.word(&[]);
                if w.is_empty() {
                    return Err(self.error(
                        "a value, a quoted phrase, a range '[a TO b]' or a comparison after ':'",
                    ));
                }
                if w == "*" {
                    return Ok(Predicate::Exists);
                }
                if w.contains('/')
                    && let Ok(net) = w.parse::<ipnet::IpNet>()
                {
                    return Ok(Predicate::Cidr(net.trunc()));
                }
                pattern(w)
                    .map(Predicate::Match)
                    .map_err(|why| self.error(&format!("a smaller pattern ({why})")))
            }
        }
    }

    fn range(&mut self) -> Result<Predicate, QueryError> {
        let lo_inclusive = self.peek() == Some('[');
        self.pos += 1;
        self.ws();
        let lo_at = self.pos;
        let lo = self.word(&[]);
        if lo.is_empty() {
            return Err(self.error("a lower bound or '*'"));
        }
        self.ws();
        if !self.keyword("TO") {
            return Err(self.error("'TO'"));
        }
        self.ws();
        let hi_at = self.pos;
        let hi = self.word(&[]);
        if hi.is_empty() {
            return Err(self.error("an upper bound or '*'"));
        }
        self.ws();
        let hi_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error("']' or '}' to close the range")),
        };
        self.pos += 1;
        let bound = |w: &str, at: usize, inclusive: bool| -> Result<Option<Bound>, QueryError> {
            if w == "*" {
                return Ok(None);
            }
            Ok(Some(Bound {
                value: scalar(w, at)?,
                inclusive,
            }))
        };
        Ok(Predicate::Range {
            lo: bound(&lo, lo_at, lo_inclusive)?,
            hi: bound(&hi, hi_at, hi_inclusive)?,
        })
    }

    fn aggregation(&mut self) -> Result<Aggregation, QueryError> {
        self.ws();
        if self.keyword("count") {
            self.ws();
            if self.keyword("by") {
                self.ws();
                let f = self.field_name()?;
                return Ok(Aggregation::CountBy(f));
            }
            return Ok(Aggregation::Count);
        }
        if self.keyword("top") {
            self.ws();
            let field = self.field_name()?;
            self.ws();
            let mut n = 10;
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                let at = self.pos;
                let w = self.word(&[]);
                n = w.parse().map_err(|_| QueryError {
                    position: at,
                    expected: "a number of values (1 to 10000)".into(),
                    found: format!("'{w}'"),
                })?;
                if !(1..=10_000).contains(&n) {
                    return Err(QueryError {
                        position: at,
                        expected: "a number of values (1 to 10000)".into(),
                        found: n.to_string(),
                    });
                }
            }
            return Ok(Aggregation::Top { field, n });
        }
        Err(self.error("'count', 'count by FIELD' or 'top FIELD [N]' after '|'"))
    }

    fn field_name(&mut self) -> Result<String, QueryError> {
        let w = self.word(&[':']);
        if w.is_empty() || !valid_field(&w) {
            return Err(self.error("a field name"));
        }
        Ok(w)
    }
}

fn valid_field(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

fn pattern(w: String) -> Result<Pattern, String> {
    if w.contains(['*', '?']) {
        Ok(Pattern::Wildcard(super::Glob::new(&w)?))
    } else {
        Ok(Pattern::Exact(w))
    }
}

fn scalar(w: &str, at: usize) -> Result<Scalar, QueryError> {
    if let Ok(n) = w.parse::<f64>()
        && n.is_finite()
    {
        return Ok(Scalar::Number(n));
    }
    if let Some(t) = parse_time(w) {
        return Ok(Scalar::Time(t));
    }
    if let Ok(ip) = w.parse::<std::net::IpAddr>() {
        return Ok(Scalar::Ip(ip));
    }
    if w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('-') {
        return Err(QueryError {
            position: at,
            expected: "a time as YYYY-MM-DD or RFC 3339 (2026-01-01T00:00:00Z)".into(),
            found: format!("'{w}'"),
        });
    }
    Ok(Scalar::Text(w.to_owned()))
}

/// Parses RFC 3339 timestamps and plain dates (midnight UTC) to ms.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    None
}
