//! The search query language.
//!
//! ```text
//! user.name:alice                       keyword match, case-insensitive
//! user.name:adm*   host.name:web-?1     wildcards
//! message:"disk full"  "disk full"      quoted phrases (field or free text)
//! http.response.status_code:[500 TO 599]   inclusive range ({ } exclusive, * open)
//! event.severity:>=70                   comparisons: > >= < <=
//! @timestamp:[2026-01-01 TO 2026-02-01] time ranges (RFC 3339 or dates, UTC)
//! source.ip:10.0.0.0/8                  CIDR
//! user.name:*                           field exists
//! *                                     every event (as an empty query)
//! a AND b, a OR b, NOT a, -a, (a OR b) c   boolean logic; juxtaposition is AND
//! failed                                free text over every string value
//! ... | count   ... | count by source.ip   ... | top user.name 5
//! ```
//!
//! A syntax error says at which character position (0-based) and what was
//! expected. Queries are limited in length and nesting depth.

mod eval;
mod glob;
mod parse;
pub mod raw;

pub use eval::{Doc, value_keys};
pub use glob::Glob;
pub use parse::parse;

/// Longest accepted query, in bytes.
pub const MAX_QUERY_LEN: usize = 8 << 10;
/// Deepest accepted nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 64;

/// A syntax error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("query syntax error at position {position}: expected {expected}, found {found}")]
pub struct QueryError {
    /// 0-based character position.
    pub position: usize,
    /// What the parser expected there.
    pub expected: String,
    /// What it found (a token kind, never the user's text beyond a short
    /// excerpt of the query itself).
    pub found: String,
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The filter.
    pub expr: Expr,
    /// An aggregation after `|`.
    pub aggregation: Option<Aggregation>,
}

impl Query {
    /// Matches every record.
    pub fn all() -> Query {
        Query {
            expr: Expr::All,
            aggregation: None,
        }
    }

    /// `field:value` (exact, case-insensitive).
    pub fn term(field: &str, value: &str) -> Query {
        Query {
            expr: Expr::Field {
                field: field.to_owned(),
                pred: Predicate::Match(Pattern::Exact(value.to_owned())),
            },
            aggregation: None,
        }
    }
}

/// A boolean filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Matches everything (empty query).
    All,
    /// All must match.
    And(Vec<Expr>),
    /// One must match.
    Or(Vec<Expr>),
    /// Must not match.
    Not(Box<Expr>),
    /// A predicate on a field.
    Field {
        /// Dotted field path.
        field: String,
        /// The predicate.
        pred: Predicate,
    },
    /// Free text over every string value.
    Text(Pattern),
}

/// A predicate on one field's value(s).
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// Pattern match.
    Match(Pattern),
    /// Range with optional bounds.
    Range {
        /// Lower bound.
        lo: Option<Bound>,
        /// Upper bound.
        hi: Option<Bound>,
    },
    /// IP in a network.
    Cidr(ipnet::IpNet),
    /// The field is present and not null.
    Exists,
}

/// A range bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The value.
    pub value: Scalar,
    /// Whether the bound itself is in the range.
    pub inclusive: bool,
}

/// A typed literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A number.
    Number(f64),
    /// A time, ms since the Unix epoch.
    Time(i64),
    /// An IP address.
    Ip(std::net::IpAddr),
    /// Text (compared lexicographically).
    Text(String),
}

/// A value pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// Equal, case-insensitive (free text: contains the word).
    Exact(String),
    /// Glob with `*` and `?`, case-insensitive, compiled.
    Wildcard(Glob),
    /// Quoted: equal or contains, case-insensitive.
    Phrase(String),
}

/// An aggregation after `|`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Number of matching records.
    Count,
    /// Number of matching records per value of a field.
    CountBy(String),
    /// The `n` most frequent values of a field.
    Top {
        /// The field.
        field: String,
        /// How many.
        n: usize,
    },
}

impl Expr {
    /// Conjunctive normal form of the exact terms on indexed fields that any
    /// match must contain: every inner list is a disjunction of
    /// `(field, value)`. Used to skip blocks by their filters.
    pub fn required_terms(&self) -> Vec<Vec<(String, String)>> {
        self.required_where(&|f| crate::index::INDEXED_FIELDS.contains(&f))
    }

    /// [`Expr::required_terms`] on every field but `@timestamp`, indexed or
    /// not: the values a matching record's body must hold, looked for in
    /// its bytes before its JSON is read (`event.module:scorecard` rejects
    /// a record that has no `scorecard` without walking it).
    pub fn required_values(&self) -> Vec<Vec<(String, String)>> {
        self.required_where(&|f| f != "@timestamp")
    }

    fn required_where(&self, keep: &dyn Fn(&str) -> bool) -> Vec<Vec<(String, String)>> {
        match self {
            Expr::Field {
                field,
                pred: Predicate::Match(Pattern::Exact(v)),
            } if keep(field) => {
                vec![vec![(field.clone(), v.clone())]]
            }
            Expr::And(xs) => xs.iter().flat_map(|x| x.required_where(keep)).collect(),
            Expr::Or(xs) => {
                let mut clause = Vec::new();
                for x in xs {
                    let mut req = x.required_where(keep);
                    if req.len() != 1 {
                        return Vec::new();
                    }
                    clause.append(&mut req[0]);
                }
                if clause.is_empty() {
                    Vec::new()
                } else {
                    vec![clause]
                }
            }
            _ => Vec::new(),
        }
    }

    /// Bounds on `@timestamp` implied by the top-level conjunction.
    pub fn time_bounds(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Expr::Field {
                field,
                pred: Predicate::Range { lo, hi },
            } if field == "@timestamp" => {
                let ms = |b: &Option<Bound>| match b {
                    Some(Bound {
                        value: Scalar::Time(t),
                        ..
                    }) => Some(*t),
                    Some(Bound {
                        value: Scalar::Number(n),
                        ..
                    }) => Some(*n as i64),
                    _ => None,
                };
                (ms(lo), ms(hi))
            }
            Expr::And(xs) => {
                let mut out = (None, None);
                for x in xs {
                    let (lo, hi) = x.time_bounds();
                    out.0 = match (out.0, lo) {
                        (Some(a), Some(b)) => Some(std::cmp::max(a, b)),
                        (a, b) => a.or(b),
                    };
                    out.1 = match (out.1, hi) {
                        (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                        (a, b) => a.or(b),
                    };
                }
                out
            }
            _ => (None, None),
        }
    }
}
