//! Search semantics and block pruning.

use super::*;
use ward_store::query::parse;
use ward_store::{AggregationResult, Bucket, Record, SearchOptions, Store};

fn rec(id: &str, t: i64, body: serde_json::Value, terms: &[(&str, &str)]) -> Record {
    Record {
        id: id.into(),
        time_ms: t,
        category: vec![],
        terms: terms
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect(),
        body: serde_json::to_vec(&body).unwrap(),
    }
}

fn ids(store: &Store, q: &str) -> Vec<String> {
    let res = store
        .search(&parse(q).unwrap(), &SearchOptions::default())
        .unwrap();
    res.hits.into_iter().map(|h| h.id).collect()
}

fn small_store() -> (tempfile::TempDir, Store) {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store
        .append(vec![
            rec("a", T0, json!({"user": {"name": "Admin"}, "source": {"ip": "10.1.2.3"}, "http": {"response": {"status_code": 500}}, "message": "disk full on /var"}), &[("user.name", "Admin"), ("source.ip", "10.1.2.3")]),
            rec("b", T0 + 1000, json!({"user.name": "administrator", "source.ip": "192.168.1.9", "http": {"response": {"status_code": 404}}, "message": "not found"}), &[("user.name", "administrator"), ("source.ip", "192.168.1.9")]),
            rec("c", T0 + 2000, json!({"user": {"name": "bob"}, "source": {"ip": "10.9.9.9"}, "http": {"response": {"status_code": "503"}}, "tags": ["vpn", "Night"]}), &[("user.name", "bob"), ("source.ip", "10.9.9.9")]),
            rec("d", T0 + 86_400_000 * 40, json!({"user": {"name": "carol"}, "source": {"ip": "2001:db8::1"}, "event": {"severity": 80}, "message": "Disk FULL again"}), &[("user.name", "carol"), ("source.ip", "2001:db8::1")]),
            rec("e", T0 + 3000, json!("not an object"), &[]),
        ])
        .unwrap();
    (dir, store)
}

#[test]
fn query_features_on_open_and_sealed_data() {
    let (_dir, store) = small_store();
    for sealed in [false, true] {
        if sealed {
            store.seal_now().unwrap();
        }
        assert_eq!(
            ids(&store, "user.name:admin"),
            vec!["a"],
            "case-insensitive keyword"
        );
        assert_eq!(
            ids(&store, "user.name:adm*"),
            vec!["b", "a"],
            "wildcard, dotted key, newest first"
        );
        assert_eq!(ids(&store, "source.ip:10.0.0.0/8"), vec!["c", "a"]);
        assert_eq!(ids(&store, "source.ip:2001:db8::/32"), vec!["d"]);
        assert_eq!(
            ids(&store, "http.response.status_code:[500 TO 599]"),
            vec!["c", "a"],
            "numbers and numeric strings"
        );
        assert_eq!(
            ids(
                &store,
                "http.response.status_code:>=404 AND NOT user.name:bob"
            ),
            vec!["b", "a"]
        );
        assert_eq!(
            ids(&store, "http.response.status_code:{404 TO 500}"),
            Vec::<String>::new()
        );
        assert_eq!(ids(&store, "event.severity:>70"), vec!["d"]);
        assert_eq!(
            ids(&store, "\"disk full\""),
            vec!["d", "a"],
            "phrase, case-insensitive"
        );
        assert_eq!(ids(&store, "message:\"disk full\""), vec!["d", "a"]);
        assert_eq!(ids(&store, "night"), vec!["c"], "free text reaches arrays");
        assert_eq!(ids(&store, "tags:vpn"), vec!["c"]);
        assert_eq!(
            ids(&store, "(user.name:bob OR user.name:carol) -tags:vpn"),
            vec!["d"]
        );
        assert_eq!(
            ids(&store, "@timestamp:[2026-01-01 TO 2026-01-02]"),
            vec!["c", "b", "a"]
        );
        assert_eq!(ids(&store, "@timestamp:>=2026-02-01"), vec!["d"]);
        assert_eq!(ids(&store, "user.name:*"), vec!["d", "c", "b", "a"]);
        let res = store
            .search(
                &parse("").unwrap(),
                &SearchOptions {
                    limit: 2,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            res.hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            vec!["d", "c"]
        );
        assert_eq!(
            res.records_unparsable, 1,
            "a body that is not a JSON object"
        );
        let res = store
            .search(
                &parse("user.name:*").unwrap(),
                &SearchOptions {
                    since: Some(T0 + 500),
                    until: Some(T0 + 2500),
                    limit: 10,
                    ..SearchOptions::default()
                },
            )
            .unwrap();
        assert_eq!(
            res.hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            vec!["c", "b"]
        );
        assert_eq!(res.hits[0].event["tags"][1], "Night");
    }
}

#[test]
fn aggregations_count_and_top() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.append(events(0..300)).unwrap();
    store.seal_now().unwrap();
    store.append(events(300..330)).unwrap();
    let run = |q: &str| {
        store
            .search(&parse(q).unwrap(), &SearchOptions::default())
            .unwrap()
    };
    assert_eq!(
        run("| count").aggregation,
        Some(AggregationResult::Count(330))
    );
    assert_eq!(
        run("event.action:login | count").aggregation,
        Some(AggregationResult::Count(110))
    );
    let Some(AggregationResult::Buckets {
        buckets, missing, ..
    }) = run("| count by host.name").aggregation
    else {
        panic!()
    };
    assert_eq!(buckets.len(), 7);
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 330);
    assert_eq!(missing, 0);
    assert_eq!(
        buckets[0],
        Bucket {
            value: "web-00".into(),
            count: 48
        }
    );
    let Some(AggregationResult::Buckets { buckets: all, .. }) =
        run("http.response.status_code:500 | count by user.name").aggregation
    else {
        panic!()
    };
    assert_eq!(
        all.iter().map(|b| b.count).sum::<u64>(),
        55,
        "status 500 is every 6th event"
    );
    assert!(all.windows(2).all(|w| w[0].count >= w[1].count));
    let Some(AggregationResult::Buckets { buckets, .. }) =
        run("http.response.status_code:500 | top user.name 3").aggregation
    else {
        panic!()
    };
    assert_eq!(buckets, all[..3].to_vec());
}

#[test]
fn selective_search_skips_blocks_by_filter_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for b in 0..20u64 {
        store.append(events(b * 100..b * 100 + 100)).unwrap();
    }
    let mut rare = event(5000);
    rare.id = "rare-1".into();
    rare.terms[0].1 = "mallory".into();
    rare.body = serde_json::to_vec(&serde_json::json!({"user": {"name": "mallory"}})).unwrap();
    store.append(vec![rare]).unwrap();
    store.append(events(2000..2100)).unwrap();
    store.seal_now().unwrap();
    let res = store
        .search(
            &parse("user.name:Mallory").unwrap(),
            &SearchOptions::default(),
        )
        .unwrap();
    assert_eq!(res.hits.len(), 1);
    assert_eq!(res.hits[0].id, "rare-1");
    assert!(
        res.blocks_skipped > 3 * res.blocks_scanned,
        "{} skipped, {} scanned",
        res.blocks_skipped,
        res.blocks_scanned
    );
    let res = store
        .search(
            &parse("user.name:*").unwrap(),
            &SearchOptions {
                since: Some(T0 + 1_000_000),
                until: Some(T0 + 1_010_000),
                limit: 100,
                ..SearchOptions::default()
            },
        )
        .unwrap();
    assert_eq!(res.hits.len(), 11);
    assert!(res.blocks_skipped > res.blocks_scanned);
    assert_eq!(store.get("rare-1").unwrap().unwrap().offset.0, 2000);
}
