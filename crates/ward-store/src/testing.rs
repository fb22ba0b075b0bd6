//! Small stores for the unit tests beside the code.

use crate::{Record, Store, StoreConfig};
use std::path::Path;
use std::time::Duration;

/// 2026-01-01T00:00:00Z in ms.
pub const T0: i64 = 1_767_225_600_000;

/// No background thread (the test drives sealing and checkpoints).
pub fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_owned(),
        segment_max_bytes: 64 << 10,
        group_commit_max_wait: Duration::ZERO,
        checkpoint_interval: Duration::from_secs(3600),
        background: false,
        ..StoreConfig::default()
    }
}

/// Record `i`: user `user{i % 5}`, one second apart from [`T0`].
pub fn record(i: u64) -> Record {
    let user = format!("user{}", i % 5);
    let id = format!("evt-{i:06}");
    let body = format!(
        r#"{{"event":{{"id":"{id}","action":"login"}},"user":{{"name":"{user}"}},"n":{i}}}"#
    );
    Record {
        id,
        time_ms: T0 + i as i64 * 1000,
        category: vec!["authentication".into()],
        terms: vec![("user.name".into(), user)],
        body: body.into_bytes(),
    }
}

/// Records `range`.
pub fn records(range: std::ops::Range<u64>) -> Vec<Record> {
    range.map(record).collect()
}

/// A store in `dir` holding records `0..n`, appended in batches of 10.
pub fn store_with(dir: &Path, n: u64) -> Store {
    let (store, _) = Store::open(config(dir)).unwrap();
    for from in (0..n).step_by(10) {
        store.append(records(from..(from + 10).min(n))).unwrap();
    }
    store
}
