//! The search's time histogram (`GET /console/search/histogram`, loaded
//! into the search page by htmx): the matches of the query's filter per
//! bucket over the form's time range, as an SVG of bars. Each bar is a link
//! that narrows the range to its bucket (keyboard: Tab to a bar, Enter);
//! dragging across bars (brushing, in `console.js`) narrows it to the
//! buckets dragged over. "Zoom out" doubles the range.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ConsoleState;
use super::page::{Failure, render};
use super::queue::Params;
use super::search::{SearchForm, search_query};
use crate::access::Caller;
use crate::api::events::{SearchParams, execute_histogram, scoped};

/// About how many bars a histogram has.
const TARGET_BARS: i64 = 60;
/// Bar widths, from one second to 30 days (ms).
const WIDTHS: &[i64] = &[
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    1_209_600_000,
    2_592_000_000,
];
/// Height of the drawing (SVG units; it is scaled to the page).
const HEIGHT: u64 = 100;

/// The buckets for `[lo, hi]`: first bucket start, width, count; the width
/// is the smallest round one giving at most [`TARGET_BARS`] bars (more
/// than 30 days each for very long ranges).
pub fn buckets(lo: i64, hi: i64) -> (i64, i64, usize) {
    let span = (hi - lo).max(1);
    let want = (span + TARGET_BARS - 1) / TARGET_BARS;
    let width = WIDTHS.iter().copied().find(|w| *w >= want).unwrap_or(want);
    let from = lo.div_euclid(width) * width;
    let n = (hi - from).div_euclid(width) + 1;
    (from, width, n.clamp(1, 2 * TARGET_BARS) as usize)
}

/// One bar.
pub struct Bar {
    pub x: u64,
    pub y: u64,
    pub h: u64,
    pub count: u64,
    pub label: String,
    pub zoom: String,
}

#[derive(Template)]
#[template(path = "search_histogram.html")]
struct HistogramFragment {
    bars: Vec<Bar>,
    /// SVG width: 10 units per bar.
    width: usize,
    from_ms: i64,
    width_ms: i64,
    matched: u64,
    first: String,
    last: String,
    step: String,
    zoom_out: String,
    /// The search without its range (the brush adds `since` and `until`).
    base: String,
    error: String,
    warnings: Vec<String>,
}

pub(super) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub(super) fn span_text(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `GET /console/search/histogram?q=…&since=…&until=…`: the bars as a
/// fragment of the search page.
pub async fn fragment(
    State(st): State<ConsoleState>,
    caller: Caller,
    q: Params<SearchForm>,
) -> Response {
    let mut view = HistogramFragment {
        bars: Vec::new(),
        width: 0,
        from_ms: 0,
        width_ms: 0,
        matched: 0,
        first: String::new(),
        last: String::new(),
        step: String::new(),
        zoom_out: String::new(),
        base: String::new(),
        error: String::new(),
        warnings: Vec::new(),
    };
    let f = match q {
        Ok(Query(f)) => f,
        Err(e) => {
            view.error = e.body_text();
            return render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let since = if f.since.trim().is_empty() {
        "24h"
    } else {
        f.since.as_str()
    };
    let now = jiff::Timestamp::now();
    let bound = |t: &str| crate::store::parse_time_bound(t, now);
    let (lo, hi) = match (
        bound(since),
        if f.until.trim().is_empty() {
            Ok(now.as_millisecond())
        } else {
            bound(&f.until)
        },
    ) {
        (Ok(lo), Ok(hi)) if lo <= hi => (lo, hi),
        (Ok(_), Ok(_)) => {
            view.error = "From is after To".into();
            return render(StatusCode::BAD_REQUEST, &view);
        }
        (Err(e), _) | (_, Err(e)) => {
            view.error = e;
            return render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let query = match ward_store::query::parse(&f.q) {
        Ok(q) => q,
        Err(e) => {
            view.error = e.to_string();
            return render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let (from_ms, width_ms, n) = buckets(lo, hi);
    let p = SearchParams {
        q: f.q.clone(),
        since: Some(rfc3339(lo)),
        until: Some(rfc3339(hi)),
        limit: Some(0),
    };
    let h = match execute_histogram(
        &st.events,
        scoped(&caller, query),
        &p,
        (from_ms, width_ms, n),
    )
    .await
    {
        Ok(Ok(h)) => h,
        Ok(Err(why)) => {
            view.error = why;
            return render(StatusCode::SERVICE_UNAVAILABLE, &view);
        }
        Err(e) => {
            let message = e.to_string();
            let status = Failure(e).into_response().status();
            view.error = message;
            return render(status, &view);
        }
    };
    let top = h.counts.iter().copied().max().unwrap_or(0).max(1);
    view.bars = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let start = (from_ms + i as i64 * width_ms).max(lo);
            let end = (from_ms + (i as i64 + 1) * width_ms - 1).min(hi);
            let height = (count * HEIGHT).div_ceil(top);
            Bar {
                x: i as u64 * 10,
                y: HEIGHT - height,
                h: height,
                count,
                label: format!(
                    "{} to {}: {count} matching",
                    super::page::when(jiff::Timestamp::from_millisecond(start).unwrap_or(now)),
                    super::page::when(jiff::Timestamp::from_millisecond(end).unwrap_or(now)),
                ),
                zoom: format!(
                    "/console/search?{}",
                    search_query(&f.q, &rfc3339(start), &rfc3339(end))
                ),
            }
        })
        .collect();
    view.width = n * 10;
    view.from_ms = from_ms;
    view.width_ms = width_ms;
    view.matched = h.matched;
    view.warnings = h.warnings;
    view.first = super::page::when(jiff::Timestamp::from_millisecond(lo).unwrap_or(now));
    view.last = super::page::when(jiff::Timestamp::from_millisecond(hi).unwrap_or(now));
    view.step = span_text(width_ms);
    let half = (hi - lo) / 2 + 1;
    let out_until = if hi + half >= now.as_millisecond() {
        String::new()
    } else {
        rfc3339(hi + half)
    };
    view.zoom_out = format!(
        "/console/search?{}",
        search_query(&f.q, &rfc3339(lo - half), &out_until)
    );
    view.base = format!(
        "/console/search?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &f.q)
            .finish()
    );
    render(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_cover_the_range_and_stay_few() {
        let h = 3_600_000;
        let (from, width, n) = buckets(10 * h + 17, 34 * h);
        assert_eq!(width, 1_800_000, "24 h in half hours");
        assert_eq!(from, 10 * h, "aligned to the width");
        assert!(from + n as i64 * width > 34 * h && n <= 2 * TARGET_BARS as usize);
        let (_, w, n) = buckets(0, 5_000);
        assert_eq!((w, n), (1_000, 6));
        let (_, w, n) = buckets(0, 4000 * 86_400_000);
        assert!(
            w > 2_592_000_000 && n <= 2 * TARGET_BARS as usize,
            "{w} {n}"
        );
        assert_eq!(buckets(7, 7).2, 1);
    }
}
