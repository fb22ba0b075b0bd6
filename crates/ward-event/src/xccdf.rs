//! OpenSCAP results: an XCCDF 1.2 results document (`oscap xccdf eval
//! --results`) or an ARF report (`--results-arf`) holding one. Every
//! `rule-result` of every `TestResult` becomes one event:
//!
//! ```text
//! event.module openscap · event.dataset openscap.xccdf · event.category [configuration]
//! rule.id (idref) · rule.severity · openscap.result (pass, fail, error, …)
//! event.outcome: success (pass, fixed), failure (fail, error, unknown), unknown (the rest)
//! labels.scan_id: TestResult id and start time, so a run's results are found together
//! host.name: the TestResult's target · @timestamp: the rule's time, else the run's end
//! ```
//!
//! `notselected` results (rules outside the evaluated profile) are left out.
//! No DTD, entity or external reference is processed (quick-xml does not);
//! element depth, text length and the number of results are bounded.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event as Xml};
use serde_json::{Value, json};

use crate::{Event, Limits, RecordError};

/// Deepest accepted element nesting.
pub const MAX_DEPTH: usize = 64;
/// Longest kept attribute or text value, in bytes.
pub const MAX_VALUE: usize = 1024;

fn err(reason: impl Into<String>) -> RecordError {
    RecordError {
        record: 1,
        reason: reason.into(),
        span: None,
    }
}

fn local(name: &[u8]) -> &[u8] {
    name.rsplit(|b| *b == b':').next().unwrap_or(name)
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (local(a.key.as_ref()) == name).then(|| {
            let v = a
                .unescape_value()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            clip(v)
        })
    })
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The scan id: TestResult id and start time, restricted to characters a
/// query can hold without quoting trouble.
fn scan_id(id: &str, start: &str) -> String {
    format!("{id}@{start}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

#[derive(Default)]
struct Run {
    id: String,
    start: String,
    end: String,
    target: String,
}

#[derive(Default)]
struct RuleResult {
    idref: String,
    severity: Option<String>,
    time: Option<String>,
    result: String,
    idents: Vec<String>,
}

/// Decodes an XCCDF results or ARF document into one event per rule result.
/// A document that is not well-formed XML, or holds no `TestResult`, is one
/// error; `limits.max_envelope_records` bounds the results.
pub fn decode(body: &[u8], limits: &Limits) -> Result<Vec<Event>, RecordError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut run: Option<Run> = None;
    let mut runs = 0usize;
    let mut rule: Option<RuleResult> = None;
    let mut events = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            err(format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match ev {
            Xml::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let name = local(e.name().as_ref()).to_vec();
                match name.as_slice() {
                    b"TestResult" => {
                        runs += 1;
                        run = Some(Run {
                            id: attr(&e, b"id").unwrap_or_default(),
                            start: attr(&e, b"start-time").unwrap_or_default(),
                            end: attr(&e, b"end-time").unwrap_or_default(),
                            target: String::new(),
                        });
                    }
                    b"rule-result" if run.is_some() => {
                        rule = Some(RuleResult {
                            idref: attr(&e, b"idref").unwrap_or_default(),
                            severity: attr(&e, b"severity"),
                            time: attr(&e, b"time"),
                            ..RuleResult::default()
                        });
                    }
                    _ => {}
                }
                stack.push(name);
            }
            Xml::Text(t) => {
                let raw = t.decode().map(|c| c.into_owned()).unwrap_or_default();
                let text = clip(
                    quick_xml::escape::unescape(&raw)
                        .map(|c| c.into_owned())
                        .unwrap_or(raw.clone()),
                );
                match (stack.last().map(Vec::as_slice), rule.as_mut(), run.as_mut()) {
                    (Some(b"result"), Some(r), _) => r.result = text,
                    (Some(b"ident"), Some(r), _) if r.idents.len() < 16 => r.idents.push(text),
                    (Some(b"target"), None, Some(run)) => run.target = text,
                    _ => {}
                }
            }
            Xml::End(e) => {
                let name = local(e.name().as_ref()).to_vec();
                stack.pop();
                match name.as_slice() {
                    b"rule-result" => {
                        if let (Some(r), Some(run)) = (rule.take(), run.as_ref())
                            && r.result != "notselected"
                        {
                            if events.len() >= limits.max_envelope_records {
                                return Err(err(format!(
                                    "more than {} rule results (limits.max_envelope_records)",
                                    limits.max_envelope_records
                                )));
                            }
                            events.push(event(&r, run));
                        }
                    }
                    b"TestResult" => run = None,
                    _ => {}
                }
            }
            Xml::Eof => break,
            Xml::DocType(_) => return Err(err("a DOCTYPE is not accepted")),
            _ => {}
        }
        buf.clear();
    }
    if runs == 0 {
        return Err(err("no XCCDF TestResult in the document"));
    }
    Ok(events)
}

fn event(r: &RuleResult, run: &Run) -> Event {
    let outcome = match r.result.as_str() {
        "pass" | "fixed" => "success",
        "fail" | "error" | "unknown" => "failure",
        _ => "unknown",
    };
    let time = r.time.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| {
        if run.end.is_empty() {
            run.start.clone()
        } else {
            run.end.clone()
        }
    });
    let mut v = json!({
        "event": {
            "module": "openscap",
            "dataset": "openscap.xccdf",
            "kind": "state",
            "category": ["configuration"],
            "type": ["info"],
            "action": "xccdf_rule_evaluated",
            "outcome": outcome,
        },
        "rule": {"id": r.idref},
        "openscap": {"result": r.result, "test_result": run.id},
        "labels": {"scan_id": scan_id(&run.id, &run.start)},
        "service": {"name": "openscap"},
        "message": format!("OpenSCAP rule {} evaluated: {}", r.idref, r.result),
    });
    if !time.is_empty() {
        v["@timestamp"] = Value::String(time);
    }
    if !run.target.is_empty() {
        v["host"] = json!({"name": run.target});
    }
    if let Some(s) = &r.severity {
        v["rule"]["severity"] = Value::String(s.clone());
    }
    if !r.idents.is_empty() {
        v["openscap"]["idents"] = json!(r.idents);
    }
    match v {
        Value::Object(m) => Event(m),
        _ => Event::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="xccdf_b">
  <Rule id="xccdf_r_a"/>
  <TestResult id="xccdf_org.open-scap_testresult_p" start-time="2026-12-06T10:00:00+00:00" end-time="2026-12-06T10:00:05+00:00">
    <target>web-1</target>
    <rule-result idref="xccdf_r_a" severity="high" time="2026-12-06T10:00:01+00:00"><result>fail</result><ident system="x">CCE-1</ident></rule-result>
    <rule-result idref="xccdf_r_b" time="2026-12-06T10:00:02+00:00"><result>pass</result></rule-result>
    <rule-result idref="xccdf_r_c"><result>notselected</result></rule-result>
  </TestResult>
</Benchmark>"#;

    #[test]
    fn every_selected_rule_result_is_an_event() {
        let ev = decode(DOC.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].get_str("rule.id"), Some("xccdf_r_a"));
        assert_eq!(ev[0].get_str("event.outcome"), Some("failure"));
        assert_eq!(ev[0].get_str("host.name"), Some("web-1"));
        assert_eq!(ev[0].get_str("rule.severity"), Some("high"));
        assert_eq!(ev[1].get_str("event.outcome"), Some("success"));
        assert_eq!(
            ev[1].get_str("labels.scan_id"),
            Some("xccdf_org.open-scap_testresult_p_2026-12-06T10:00:00_00:00")
        );
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let l = Limits::default();
        assert!(
            decode(b"<a><b></a>", &l)
                .unwrap_err()
                .reason
                .contains("not well-formed")
        );
        assert!(
            decode(b"<Benchmark/>", &l)
                .unwrap_err()
                .reason
                .contains("no XCCDF TestResult")
        );
        let dtd = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><TestResult>&e;</TestResult>"#;
        assert!(decode(dtd, &l).unwrap_err().reason.contains("DOCTYPE"));
        let deep = "<a>".repeat(100);
        assert!(
            decode(deep.as_bytes(), &l)
                .unwrap_err()
                .reason
                .contains("deeper")
        );
        let small = Limits {
            max_envelope_records: 1,
            ..Limits::default()
        };
        assert!(
            decode(DOC.as_bytes(), &small)
                .unwrap_err()
                .reason
                .contains("more than 1")
        );
    }
}
