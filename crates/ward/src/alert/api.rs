//! The alert API under `/api/v1/alerts`.

use axum::Router;

use crate::api::State;

/// The alert routes.
pub fn routes() -> Router<State> {
    Router::new()
}
