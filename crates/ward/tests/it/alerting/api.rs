//! The HTTP API through the router (`oneshot`): authentication, listing and
//! filters, lifecycle actions with their status codes, silences, owners,
//! delivery logs and response metrics.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{config, engine, finding};

const CFG: &str = r#"
allow_private_destinations = true
[[receivers]]
name = "team"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/team"
[owners.teams.payments]
contacts = ["p@example.com"]
[route]
receiver = "team"
group_wait = "0s"
"#;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: bool,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if token {
        req = req.header("authorization", "Bearer t");
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(start_paused = true)]
async fn alert_lifecycle_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (e, mut audit) = engine(&config(CFG), dir.path(), false).await;
    let app: axum::Router = super::router(&e, "t", "ana");
    let id = e
        .on_finding(finding("f1", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    e.on_finding(finding("f2", "exfil", "low", &[("host.name", "b")]))
        .await
        .unwrap();

    let (s, v) = call(&app, "GET", "/api/v1/alerts", None, false).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or invalid token"})
        )
    );
    let (s, v) = call(&app, "GET", "/api/v1/alerts?severity=high", None, true).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["count"], 1);
    assert_eq!(v["alerts"][0]["id"], id.as_str());
    let (s, v) = call(&app, "GET", "/api/v1/alerts?status=bogus", None, true).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = call(&app, "GET", "/api/v1/alerts/nope", None, true).await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "alert nope not found")
    );

    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        Some(json!({"comment": "mine"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "acknowledged");
    assert_eq!(v["assignee"], "ana");
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/assign"),
        Some(json!({"assignee": "bo"})),
        true,
    )
    .await;
    assert_eq!((s, &v["assignee"]), (StatusCode::OK, &json!("bo")));
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/comment"),
        Some(json!({"text": "blocked 1.2.3.4"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["comments"][1]["text"], "blocked 1.2.3.4");
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/resolve"),
        Some(json!({"resolution": "maybe"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().unwrap().contains("invalid JSON body"),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{id}/resolve"),
        Some(json!({"resolution": "false_positive"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["resolution"], "false_positive");
    let actions: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "alert_opened",
            "alert_acknowledged",
            "alert_assigned",
            "alert_commented",
            "alert_resolved"
        ]
    );

    let (s, v) = call(&app, "GET", "/api/v1/alerts/metrics", None, true).await;
    assert_eq!(s, StatusCode::OK);
    let all = v["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["team"] == "*" && c["severity"] == "*")
        .unwrap();
    assert_eq!(
        (all["alerts"].as_u64(), all["resolved"].as_u64()),
        (Some(2), Some(1))
    );

    let mut seen = Vec::new();
    while let Ok(ev) = audit.try_recv() {
        assert_eq!(ev["event"]["dataset"], "ward.alert");
        seen.push((
            ev["event"]["action"].as_str().unwrap().to_string(),
            ev["user"]["name"].as_str().unwrap().to_string(),
        ));
    }
    assert!(
        seen.contains(&("alert_resolved".into(), "ana".into())),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|(action, who)| action != "alert_opened" && who == "ana"),
        "only people's changes are audited: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn silences_owners_and_deliveries_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(CFG), dir.path(), false).await;
    let app: axum::Router = super::router(&e, "t", "ana");

    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/silences",
        Some(json!({"matchers": ["service=~\"db|web\""], "duration": "2h", "comment": "upgrade"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sid = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["created_by"], "ana");
    assert_eq!(
        v["matchers"][0],
        json!({"name": "service", "op": "=~", "value": "db|web"})
    );
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/silences",
        Some(json!({"matchers": ["service=~\"(\""], "duration": "2h"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().unwrap().starts_with("matchers[0]:"),
        "{v}"
    );
    let (_, v) = call(&app, "GET", "/api/v1/silences", None, true).await;
    assert_eq!(v["silences"][0]["state"], "active");
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/v1/silences/{sid}/expire"),
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/silences/{sid}"),
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = call(&app, "GET", "/api/v1/silences", None, true).await;
    assert_eq!(v["silences"][0]["state"], "expired");

    let (s, v) = call(
        &app,
        "PUT",
        "/api/v1/owners/services/checkout",
        Some(json!({"team": "ghosts"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/owners/teams/sre",
        Some(json!({"contacts": ["sre@example.com"], "receiver": "team"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &app,
        "PUT",
        "/api/v1/owners/services/checkout",
        Some(json!({"team": "sre"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["services"]["checkout"], "sre");
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/owners/planets/x",
        Some(json!({"team": "sre"})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let id = e
        .on_finding(finding("f1", "r", "high", &[("service.name", "checkout")]))
        .await
        .unwrap();
    assert_eq!(e.alert(&id).unwrap().owner.as_deref(), Some("sre"));

    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (s, v) = call(&app, "GET", "/api/v1/receivers/team/deliveries", None, true).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["queue"][0]["state"], "pending");
    assert_eq!(
        v["queue"][0]["notification"]["alerts"][0]["id"],
        id.as_str()
    );
    let (s, _) = call(
        &app,
        "GET",
        "/api/v1/receivers/nobody/deliveries",
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Owner changes made through the API survive a restart.
    e.shutdown(std::time::Duration::from_millis(500)).await;
    drop(app);
    drop(e);
    let (e, _audit) = engine(&config(CFG), dir.path(), false).await;
    assert_eq!(e.owners().0.services["checkout"], "sre");
    assert_eq!(e.silences().len(), 1);
}
