//! A detection batch's findings taken at once: the same alerts, groups and
//! notifications as taking them one by one, every alert saved once, and
//! all or nothing when the save fails.

use std::path::Path;

use ward_alert::{Alert, AlertFilter};

use super::routing::BASE;
use super::{config, engine, finding, ids, queued};

fn batch() -> Vec<ward_alert::alert::Finding> {
    let mut v: Vec<_> = (1..=5)
        .map(|i| finding(&format!("f{i}"), "brute", "high", &[("host.name", "a")]))
        .collect();
    v.push(finding("f6", "brute", "high", &[("host.name", "b")]));
    v.push(finding("f7", "exfil", "critical", &[("host.name", "a")]));
    // The same finding twice in one batch is taken once.
    v.push(finding("f2", "brute", "high", &[("host.name", "a")]));
    v
}

/// What an engine holds, without the times of the run.
fn shape(alerts: Vec<Alert>) -> Vec<(String, u64, Vec<String>, String)> {
    let mut v: Vec<_> = alerts
        .into_iter()
        .map(|a| (a.id, a.count, a.evidence, a.status.as_str().to_owned()))
        .collect();
    v.sort();
    v
}

fn findings_rows(dir: &Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("alerts.sqlite3")).unwrap();
    db.query_row("SELECT count(*) FROM findings", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_taken_as_its_findings_one_by_one() {
    let (one_dir, many_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, _a) = engine(&config(BASE), one_dir.path(), false).await;
    let (many, _b) = engine(&config(BASE), many_dir.path(), false).await;
    for f in batch() {
        one.on_finding(f).await.unwrap();
    }
    many.on_findings(batch()).await.unwrap();
    let all = AlertFilter::default();
    let want = shape(one.alerts(&all));
    assert_eq!(want.len(), 3, "{want:?}");
    assert_eq!(shape(many.alerts(&all)), want);
    assert!(
        want.iter().any(|a| a.1 == 5),
        "five findings on one alert: {want:?}"
    );
    assert_eq!(findings_rows(many_dir.path()), 7);

    // Routed like the findings one by one.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    let (q1, q2) = (queued(&one, "team"), queued(&many, "team"));
    assert_eq!(q1.len(), q2.len());
    for (a, b) in q1.iter().zip(&q2) {
        assert_eq!(ids(a), ids(b));
    }

    // Handed over again (detection retrying): a replay, nothing counted
    // twice (8 replays, and `f2` the first time).
    many.on_findings(batch()).await.unwrap();
    assert_eq!(shape(many.alerts(&all)), want);
    assert_eq!(
        super::metric(&many, "ward_alert_findings_replayed_total", &[]),
        Some(9.0)
    );

    // On disk as in memory.
    drop(many);
    let (again, _c) = engine(&config(BASE), many_dir.path(), false).await;
    assert_eq!(shape(again.alerts(&all)), want);
}

#[tokio::test(start_paused = true)]
async fn a_batch_whose_save_fails_applies_none_of_its_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _a) = engine(&config(BASE), dir.path(), false).await;
    e.on_finding(finding("f0", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    let all = AlertFilter::default();
    let before = shape(e.alerts(&all));
    // The disk refuses the batch's last finding.
    let db = rusqlite::Connection::open(dir.path().join("alerts.sqlite3")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON findings WHEN NEW.id = 'f7'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let err = e.on_findings(batch()).await.unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert_eq!(shape(e.alerts(&all)), before, "nothing applied in memory");
    assert_eq!(findings_rows(dir.path()), 1, "nothing applied on disk");

    // Handed over again once the disk takes it: each finding counted once.
    db.execute_batch("DROP TRIGGER refuse").unwrap();
    e.on_findings(batch()).await.unwrap();
    let after = shape(e.alerts(&all));
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.iter().any(|a| a.1 == 6),
        "f0 and five more: {after:?}"
    );
    assert_eq!(findings_rows(dir.path()), 8);
}
