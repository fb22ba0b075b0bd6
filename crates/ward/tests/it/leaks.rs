//! Nothing leaks around redaction: secrets planted in malformed input never
//! reach the stored dead letters, the API answers, or Ward's own log.

use crate::harness::*;

const SECRETS: [&str; 4] = [
    "hunter2-Planted-Pw",
    "ghp_PlantedToken0123456789abcdefghijABCD",
    "4111 1111 1111 1111",
    "AKIAIOSFODNN7PLANTED",
];

#[test]
fn planted_secrets_in_malformed_input_are_never_echoed_or_stored() {
    let w = Ward::start();
    let body = format!(
        "{{\"password\":\"{}\", \"token\": \"{}\" broken\n{{\"card\":\"{}\",\n\"aws_access_key_id\"={} not json\n{{\"service\":\"leaktest\",\"message\":\"fine\"}}\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]
    );
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200);
    let answer_text = answer.to_string();
    assert_eq!(
        answer["rejected"].as_array().unwrap().len(),
        3,
        "{answer_text}"
    );
    let r = Ward::client()
        .post(format!("{}/services/collector/event", w.url()))
        .header("authorization", format!("Splunk {TOKEN}"))
        .body(format!(
            "{{\"event\": {{\"password\": \"{}\"}} oops",
            SECRETS[0]
        ))
        .send()
        .unwrap();
    let hec_text = r.text().unwrap();
    let dead = w.wait_for("ward.dead_letter:true", 3);
    assert!(dead.len() >= 3, "dead letters are kept: {dead:?}");
    let stored = serde_json::to_string(&w.search("*")).unwrap();
    let log = w.log();
    for s in SECRETS {
        assert!(
            !answer_text.contains(s),
            "ingest answer echoes {s}: {answer_text}"
        );
        assert!(!hec_text.contains(s), "HEC answer echoes {s}: {hec_text}");
        assert!(!stored.contains(s), "stored events contain {s}");
        assert!(!log.contains(s), "ward's log contains {s}");
    }
    assert!(stored.contains("leaktest"));
}
