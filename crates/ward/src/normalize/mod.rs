//! The normalize stage: what every decoded event gets before redaction — an
//! `event.id`, the tenant and source, receive time, required-field checks —
//! and the dead-letter events for records that could not be decoded.
//! Decoding itself is `ward-event`'s (pure, fuzzed).

use ward_event::{Context, Limits, RecordError};

use crate::config::LimitsConfig;
use crate::model::{Event, new_event_id};

/// Decoder limits from `[limits]`.
pub fn limits(cfg: &LimitsConfig) -> Limits {
    Limits {
        max_line_bytes: cfg.max_line_bytes,
        max_depth: cfg.max_json_depth,
        max_frame_bytes: cfg.max_frame_bytes,
        max_request_bytes: cfg.max_request_bytes,
        max_envelope_records: cfg.max_envelope_records,
        ..Limits::default()
    }
}

/// The decode context for one request.
pub fn context(input: &str, source: &str, tenant: &str) -> Context {
    Context {
        input: input.to_owned(),
        source: source.to_owned(),
        tenant: tenant.to_owned(),
        received: jiff::Timestamp::now(),
        declared: None,
    }
}

/// Finishes one decoded event.
pub fn finish(mut event: Event, ctx: &Context) -> Event {
    event.set("event.id", new_event_id().into());
    ward_event::finalize(&mut event, ctx);
    event
}

/// What one decoded request became: events to store (dead letters
/// included) and the rejected records to report back to the sender.
#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub rejected: Vec<RecordError>,
}

/// Finishes decoder results: good records become events, bad ones become
/// dead-letter events (never dropped) keeping their own bytes of `input`
/// (redacted later, like every event), and are reported.
pub fn collect(
    results: Vec<Result<Event, RecordError>>,
    input: &[u8],
    ctx: &Context,
    limits: &Limits,
) -> Outcome {
    let mut out = Outcome::default();
    for r in results {
        match r {
            Ok(e) => out.events.push(finish(e, ctx)),
            Err(err) => {
                let dl = ward_event::dead_letter(ctx, &err.reason, err.original(input), limits);
                out.events.push(finish(dl, ctx));
                out.rejected.push(err);
            }
        }
    }
    out
}
