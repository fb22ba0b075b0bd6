//! Events: search, get one, its inclusion proof; checkpoints, consistency
//! proofs and the public key that verifies them. A caller bound to a
//! tenant searches, reads and proves only its tenant's events (`tenant.id`
//! is stamped by Ward from the sender's credential and cannot be sent);
//! another tenant's event answers 404 as an absent one does. Checkpoints
//! and consistency proofs cover the one log of every tenant.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, EventsState};
use crate::access::{Caller, Principal};

/// The query restricted to the caller's tenant.
pub(crate) fn scoped(
    caller: &Principal,
    mut query: ward_store::query::Query,
) -> ward_store::query::Query {
    if let Some(t) = caller.tenant_scope() {
        let tenant = ward_store::query::Query::term("tenant.id", t).expr;
        query.expr = ward_store::query::Expr::And(vec![tenant, query.expr]);
    }
    query
}

/// The stored event `id`, if the caller may see it.
pub(crate) async fn visible_record(
    st: &EventsState,
    caller: &Principal,
    id: String,
) -> Result<(ward_store::StoredRecord, Value), ApiError> {
    let (rec, event, _) = visible_records(st, caller, id).await?;
    Ok((rec, event))
}

/// The first-written stored event `id` the caller may see, and the offsets
/// of every other stored record with that id (Ward assigns ids itself, so
/// normally none; any is reported, never hidden).
pub(crate) async fn visible_records(
    st: &EventsState,
    caller: &Principal,
    id: String,
) -> Result<(ward_store::StoredRecord, Value, Vec<u64>), ApiError> {
    let store = st.store.clone();
    let all =
        blocking(move || store.get_all(&id).map_err(|e| ApiError::Internal(e.into()))).await?;
    let mut chosen = None;
    let mut others = Vec::new();
    for rec in all {
        if chosen.is_some() {
            others.push(rec.offset.0);
            continue;
        }
        let event: Value = serde_json::from_slice(&rec.body).map_err(anyhow::Error::from)?;
        let tenant = event
            .get("tenant")
            .and_then(|t| t.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if caller.sees(tenant) {
            chosen = Some((rec, event));
        } else {
            others.push(rec.offset.0);
        }
    }
    let (rec, event) = chosen.ok_or_else(|| ApiError::NotFound("event".into()))?;
    others.sort_unstable();
    Ok((rec, event, others))
}

/// The warning an answer carries when other records share its event id.
fn duplicate_warning(id: &str, offset: u64, others: &[u64]) -> String {
    format!(
        "{} other stored record(s) carry event id {id:?} (offsets {others:?}); this is the first-written one you may see, at offset {offset}",
        others.len()
    )
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("task failed: {e}")))?
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
}

/// Searches running at once; more wait for nothing and are told to retry,
/// so that searches cannot take every core from ingest and detection.
pub const MAX_CONCURRENT_SEARCHES: usize = 4;
/// Longest one search may run before it is stopped.
pub const SEARCH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

static SEARCHES: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_CONCURRENT_SEARCHES);

/// Cancels a search when its request is dropped: hyper drops the request
/// when the client disconnects, and the search stops at its next block
/// instead of burning cores for nobody.
struct CancelOnDrop(ward_store::SearchStop);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// `cluster=true` of a search: the sealed segments of every node in the
/// cluster's bucket are searched too.
#[derive(Debug, Default, Deserialize)]
pub struct ClusterParam {
    #[serde(default)]
    pub cluster: bool,
}

/// `GET /api/v1/events/search?q=…&since=24h&until=…&limit=N[&cluster=true]`
pub async fn search(
    State(st): State<EventsState>,
    caller: Caller,
    Query(p): Query<SearchParams>,
    Query(c): Query<ClusterParam>,
) -> Result<Response, ApiError> {
    let query = ward_store::query::parse(&p.q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if c.cluster {
        return cluster_search(&st, scoped(&caller, query), &p).await;
    }
    run_search(&st, scoped(&caller, query), &p).await
}

/// The local search and the bucket's, merged ([`crate::cluster::search`]);
/// the answer's `cluster` member says what the bucket part read.
async fn cluster_search(
    st: &EventsState,
    query: ward_store::query::Query,
    p: &SearchParams,
) -> Result<Response, ApiError> {
    let Some(remote) = st.remote.clone() else {
        return Err(ApiError::BadRequest(
            "cluster=true searches the cluster's bucket: set cluster.segments_bucket".into(),
        ));
    };
    if query.aggregation.is_some() {
        return Err(ApiError::BadRequest(
            "cluster=true runs searches, not aggregations (`| count`, `| top`): run those on each node"
                .into(),
        ));
    }
    let found = limited(st, p, move |store, opts| {
        let local = store.search(&query, &opts)?;
        let (hits, mut report, warnings) = remote.search(&query, &opts)?;
        let merged = crate::cluster::search::merge(local, hits, &mut report, warnings, opts.limit);
        Ok((merged, report))
    })
    .await?;
    match found {
        Ok((result, report)) => {
            let mut v = serde_json::to_value(result).map_err(anyhow::Error::from)?;
            v["cluster"] = serde_json::to_value(report).map_err(anyhow::Error::from)?;
            Ok(Json(v).into_response())
        }
        Err(why) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": why })),
        )
            .into_response()),
    }
}

/// `GET /api/v1/audit?q=…&since=…&limit=N`: Ward's own audit trail (the
/// events of input `ward`: API calls, refused credentials, people's
/// changes to alerts), newest first, of the caller's tenant.
pub async fn audit(
    State(st): State<EventsState>,
    caller: Caller,
    Query(p): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let mut query =
        ward_store::query::parse(&p.q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let own = ward_store::query::Query::term("ward.input", "ward").expr;
    query.expr = ward_store::query::Expr::And(vec![own, query.expr]);
    run_search(&st, scoped(&caller, query), &p).await
}

async fn run_search(
    st: &EventsState,
    query: ward_store::query::Query,
    p: &SearchParams,
) -> Result<Response, ApiError> {
    match execute(st, query, p).await? {
        Ok(r) => Ok(Json(serde_json::to_value(r).map_err(anyhow::Error::from)?).into_response()),
        Err(why) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": why })),
        )
            .into_response()),
    }
}

/// Runs a search within the limits every search obeys (at most
/// [`MAX_CONCURRENT_SEARCHES`] at once, [`SEARCH_DEADLINE`] each); the
/// inner `Err` says why a search was stopped.
pub(crate) async fn execute(
    st: &EventsState,
    query: ward_store::query::Query,
    p: &SearchParams,
) -> Result<Result<ward_store::SearchResult, String>, ApiError> {
    limited(st, p, move |store, opts| store.search(&query, &opts)).await
}

/// The matches of `query` per time bucket, within the same limits as a
/// search (`from_ms`, `width_ms`, `buckets`: see
/// [`ward_store::Store::histogram`]).
pub(crate) async fn execute_histogram(
    st: &EventsState,
    query: ward_store::query::Query,
    p: &SearchParams,
    (from_ms, width_ms, buckets): (i64, i64, usize),
) -> Result<Result<ward_store::Histogram, String>, ApiError> {
    limited(st, p, move |store, opts| {
        store.histogram(&query, &opts, from_ms, width_ms, buckets)
    })
    .await
}

/// Runs `f` on the store with the search options of `p`, holding one of
/// the [`MAX_CONCURRENT_SEARCHES`] places and stopped at the
/// [`SEARCH_DEADLINE`] or when the request is dropped.
async fn limited<T: Send + 'static>(
    st: &EventsState,
    p: &SearchParams,
    f: impl FnOnce(&ward_store::Store, ward_store::SearchOptions) -> Result<T, ward_store::StoreError>
    + Send
    + 'static,
) -> Result<Result<T, String>, ApiError> {
    let now = jiff::Timestamp::now();
    let bound = |s: &Option<String>| -> Result<Option<i64>, ApiError> {
        s.as_deref()
            .map(|t| crate::store::parse_time_bound(t, now))
            .transpose()
            .map_err(ApiError::BadRequest)
    };
    let Ok(_running) = SEARCHES.try_acquire() else {
        return Err(ApiError::Busy);
    };
    let stop = ward_store::SearchStop::at(std::time::Instant::now() + SEARCH_DEADLINE);
    let _cancel = CancelOnDrop(stop.clone());
    let opts = ward_store::SearchOptions {
        since: bound(&p.since)?,
        until: bound(&p.until)?,
        limit: p.limit.unwrap_or(100).min(10_000),
        stop,
    };
    let store = st.store.clone();
    let result = blocking(move || match f(&store, opts) {
        Ok(r) => Ok(Ok(r)),
        Err(ward_store::StoreError::SearchStopped(why)) => Ok(Err(why)),
        Err(e) => Err(ApiError::Internal(e.into())),
    })
    .await?;
    Ok(result.map_err(|why| {
        format!(
            "search stopped after {} s: {why}",
            SEARCH_DEADLINE.as_secs()
        )
    }))
}

/// `GET /api/v1/events/{id}`
pub async fn get_event(
    State(st): State<EventsState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (rec, event, others) = visible_records(&st, &caller, id.clone()).await?;
    let mut body = json!({ "offset": rec.offset, "event": event });
    if !others.is_empty() {
        body["duplicate_offsets"] = json!(others);
        body["warning"] = json!(duplicate_warning(&id, rec.offset.0, &others));
    }
    Ok(Json(body))
}

/// `GET /api/v1/events/{id}/proof`: an inclusion proof against the latest
/// signed checkpoint, checkable offline with `ward verify --proof`.
pub async fn proof(
    State(st): State<EventsState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (rec, _, others) = visible_records(&st, &caller, id.clone()).await?;
    let store = st.store.clone();
    let warning = (!others.is_empty()).then(|| duplicate_warning(&id, rec.offset.0, &others));
    let p = blocking(move || {
        store
            .inclusion_proof_at(rec.offset, &id, others)
            .map_err(|e| match e {
                ward_store::StoreError::NotFound(_) => ApiError::NotFound("event".into()),
                e => ApiError::Internal(e.into()),
            })
    })
    .await?;
    let mut body = serde_json::to_value(p).map_err(anyhow::Error::from)?;
    if let Some(w) = warning {
        body["warning"] = json!(w);
    }
    Ok(Json(body))
}

/// `GET /api/v1/store/checkpoint`: signs and returns a checkpoint now.
pub async fn checkpoint(State(st): State<EventsState>) -> Result<Json<Value>, ApiError> {
    let store = st.store.clone();
    let c = blocking(move || store.checkpoint().map_err(|e| ApiError::Internal(e.into()))).await?;
    Ok(Json(serde_json::to_value(c).map_err(anyhow::Error::from)?))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyParams {
    pub old: u64,
    pub new: u64,
}

/// `GET /api/v1/store/consistency?old=N&new=M`
pub async fn consistency(
    State(st): State<EventsState>,
    Query(p): Query<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    let store = st.store.clone();
    let c = blocking(move || {
        store
            .consistency_proof(p.old, p.new)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    })
    .await?;
    Ok(Json(serde_json::to_value(c).map_err(anyhow::Error::from)?))
}

/// `GET /api/v1/store/public-key`: the key that signs checkpoints.
pub async fn public_key(State(st): State<EventsState>) -> String {
    format!("{}\n", st.store.public_key())
}
