//! A YAML document tree that remembers the line of every node.
//!
//! Rules are reported to users by `file:line`, so the tree is built from the
//! marked event stream of `yaml-rust2` instead of its line-less `Yaml` type.
//! Invariants: plain scalars are resolved to null/bool/int/float/string by the
//! YAML 1.2 core schema; quoted scalars are always strings; aliases are
//! expanded; depth, node count and input size are bounded.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest rule or pipeline file accepted, in bytes.
pub const MAX_YAML_BYTES: usize = 4 * 1024 * 1024;
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 500_000;

/// A scalar with its source text kept, so `EventID: 0010` can still be
/// compared as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The text a string matcher compares against.
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Null => String::new(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One YAML node and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub line: usize,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Scalar text of any scalar (numbers included).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s.as_text()),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Scalar::Null))
    }

    /// A string or list of strings (scalars of any type are rendered as text).
    pub fn string_list(&self) -> Option<Vec<String>> {
        match &self.kind {
            NodeKind::Scalar(Scalar::Null) => Some(Vec::new()),
            NodeKind::Scalar(s) => Some(vec![s.as_text()]),
            NodeKind::Seq(items) => items.iter().map(Node::scalar_text).collect(),
            NodeKind::Map(_) => None,
        }
    }

    /// Converts to JSON, for custom attributes kept verbatim.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar(Scalar::Null) => Value::Null,
            NodeKind::Scalar(Scalar::Bool(b)) => Value::Bool(*b),
            NodeKind::Scalar(Scalar::Int(i)) => Value::from(*i),
            NodeKind::Scalar(Scalar::Float(f)) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::Scalar(Scalar::Str(s)) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// Parses every document of a (multi-document) YAML text.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(YamlError {
            line: 1,
            message: format!("file is larger than the limit of {MAX_YAML_BYTES} bytes"),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line(),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

enum Frame {
    Seq(Vec<Node>, usize, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize, usize),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, line: usize, message: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line,
                message: message.to_string(),
            });
        }
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail(node.line, "too many YAML nodes");
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

fn resolve_plain(text: &str) -> Scalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        // Keep leading zeros as text: `0010` is an identifier, not 10.
        let digits = text.trim_start_matches(['-', '+']);
        let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
        if !leading_zero {
            if let Ok(i) = text.parse::<i64>() {
                return Scalar::Int(i);
            }
            if let Ok(f) = text.parse::<f64>() {
                return Scalar::Float(f);
            }
        }
    }
    Scalar::Str(text.to_string())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let scalar = if style == TScalarStyle::Plain {
                    resolve_plain(&text)
                } else {
                    Scalar::Str(text)
                };
                self.push_node(
                    Node {
                        kind: NodeKind::Scalar(scalar),
                        line,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(line, "YAML nesting is deeper than 64 levels");
                    return;
                }
                self.stack.push(Frame::Seq(Vec::new(), anchor, line));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(line, "YAML nesting is deeper than 64 levels");
                    return;
                }
                self.stack.push(Frame::Map(Vec::new(), None, anchor, line));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, anchor, line)) => self.push_node(
                    Node {
                        kind: NodeKind::Seq(items),
                        line,
                    },
                    anchor,
                ),
                Some(Frame::Map(entries, _, anchor, line)) => self.push_node(
                    Node {
                        kind: NodeKind::Map(entries),
                        line,
                    },
                    anchor,
                ),
                None => self.fail(line, "unbalanced YAML collection"),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push_node(node, 0),
                None => self.fail(line, "YAML alias refers to an unknown anchor"),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_and_types() {
        let docs = parse_documents("a: 1\nb:\n  - 'x'\n  - 0010\n---\nc: ~\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.line, 3);
        let NodeKind::Seq(items) = &b.kind else {
            panic!()
        };
        assert_eq!(items[1].kind, NodeKind::Scalar(Scalar::Str("0010".into())));
        assert_eq!(
            docs[0].get("a").unwrap().kind,
            NodeKind::Scalar(Scalar::Int(1))
        );
        assert!(docs[1].get("c").unwrap().is_null());
    }

    #[test]
    fn reports_line_of_syntax_error() {
        let err = parse_documents("a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
