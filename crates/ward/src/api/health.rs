//! `/healthz` (the process answers), `/readyz` (the store accepts writes),
//! `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::State as AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let stats = st.store.stats();
    (
        StatusCode::OK,
        format!("ready: {} events stored\n", stats.records),
    )
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let stats = st.store.stats();
    st.metrics
        .set("ward_store_records", &[], stats.records as f64);
    st.metrics.set("ward_store_bytes", &[], stats.bytes as f64);
    let text = st.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
