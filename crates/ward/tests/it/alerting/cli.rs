//! The CLI against a real server on loopback, and its table output.

use std::process::ExitCode;

use serde_json::json;
use ward::cli::alerts::{
    AlertsCommand, Format, SilencesCommand, alerts_table, run_alerts, run_silences,
};

use super::{config, engine_now, finding};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_drive_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("[route]\ngroup_wait = \"0s\"\n");
    let (e, _audit) = engine_now(&cfg, dir.path()).await;
    let app: axum::Router = super::router(&e, "tok", "cli-user");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let id = e
        .on_finding(finding("f1", "brute", "high", &[]))
        .await
        .unwrap();

    let (u, i) = (url.clone(), id.clone());
    let codes = tokio::task::spawn_blocking(move || {
        let ack = run_alerts(
            AlertsCommand::Ack {
                id: i.clone(),
                comment: Some("via cli".into()),
                format: Format::Json,
            },
            &u,
            Some("tok"),
        )
        .unwrap();
        let again = run_alerts(
            AlertsCommand::Ack {
                id: i.clone(),
                comment: None,
                format: Format::Table,
            },
            &u,
            Some("tok"),
        )
        .unwrap();
        let denied = run_alerts(
            AlertsCommand::Show {
                id: i.clone(),
                format: Format::Table,
            },
            &u,
            None,
        )
        .unwrap();
        let list = run_alerts(
            AlertsCommand::List {
                status: Some("acknowledged".into()),
                severity: None,
                owner: None,
                rule: None,
                limit: 10,
                format: Format::Table,
            },
            &u,
            Some("tok"),
        )
        .unwrap();
        let silence = run_silences(
            SilencesCommand::Add {
                matchers: vec!["host=\"db1\"".into()],
                duration: "30m".into(),
                comment: "patching".into(),
                format: Format::Json,
            },
            &u,
            Some("tok"),
        )
        .unwrap();
        let unreachable = run_alerts(
            AlertsCommand::Show {
                id: i,
                format: Format::Json,
            },
            "http://127.0.0.1:9",
            None,
        );
        (ack, again, denied, list, silence, unreachable.is_err())
    })
    .await
    .unwrap();
    assert_eq!(codes.0, ExitCode::SUCCESS);
    assert_eq!(codes.1, ExitCode::from(1), "second ack is refused");
    assert_eq!(codes.2, ExitCode::from(1), "no token");
    assert_eq!(codes.3, ExitCode::SUCCESS);
    assert_eq!(codes.4, ExitCode::SUCCESS);
    assert!(codes.5, "an unreachable server is an error");
    let a = e.alert(&id).unwrap();
    assert_eq!(a.status, ward_alert::Status::Acknowledged);
    assert_eq!(a.history.last().unwrap().actor, "cli-user");
    assert_eq!(a.comments[0].text, "via cli");
    assert_eq!(e.silences()[0].silence.comment, "patching");
    server.abort();
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

#[test]
fn alerts_table_snapshot() {
    let v = json!({"alerts": [
        {"id": "3f2a9c0d1e2b4a5c", "status": "open", "severity": "critical", "owner": "payments", "count": 3,
         "last_seen": "2026-01-05T08:59:30Z", "rule_title": "Brute force against SSO"},
        {"id": "0b1c2d3e4f5a6b7c", "status": "acknowledged", "severity": "low", "owner": null, "count": 1,
         "last_seen": "2026-01-05T07:00:00Z", "rule_title": "New country for user"}
    ]});
    insta::assert_snapshot!(alerts_table(&v), @r"
    ID                STATUS        SEVERITY  OWNER     COUNT  LAST SEEN             RULE
    3f2a9c0d1e2b4a5c  open          critical  payments  3      2026-01-05T08:59:30Z  Brute force against SSO
    0b1c2d3e4f5a6b7c  acknowledged  low       none      1      2026-01-05T07:00:00Z  New country for user
    ");
}
