//! Syslog over UDP (one message per datagram) and TCP (LF or octet-counted
//! framing, RFC 6587), RFC 5424 and RFC 3164. A TCP connection is read only
//! as fast as the pipeline accepts its batches, so a full pipeline stops
//! the sender instead of dropping. A frame that cannot be parsed becomes a
//! dead-letter event.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, UdpSocket};

use crate::api::AppState;
use crate::model::{Batch, Event};
use crate::normalize;

/// Where syslog events are attributed.
#[derive(Clone)]
pub struct Attribution {
    pub source: String,
    pub tenant: String,
}

fn parse_frames(
    frames: Vec<Result<Vec<u8>, ward_event::FrameError>>,
    input: &str,
    who: &Attribution,
    limits: &ward_event::Limits,
) -> (Vec<Event>, usize) {
    let ctx = normalize::context(input, &who.source, &who.tenant);
    let mut events = Vec::with_capacity(frames.len());
    let mut bad = 0;
    for f in frames {
        match f {
            Ok(msg) => match ward_event::syslog::parse(&msg, ctx.received) {
                Ok(e) => events.push(normalize::finish(e, &ctx)),
                Err(reason) => {
                    bad += 1;
                    let dl = ward_event::dead_letter(&ctx, &reason, &msg, limits);
                    events.push(normalize::finish(dl, &ctx));
                }
            },
            Err(err) => {
                bad += 1;
                let dl = ward_event::dead_letter(&ctx, &err.to_string(), b"", limits);
                events.push(normalize::finish(dl, &ctx));
            }
        }
    }
    (events, bad)
}

async fn deliver(
    st: &AppState,
    input: &str,
    who: &Attribution,
    events: Vec<Event>,
    bad: usize,
    bytes: usize,
    received: Instant,
) {
    let labels = [("input", input), ("source", who.source.as_str())];
    st.metrics
        .add("ward_ingest_bytes_total", &labels, bytes as u64);
    st.metrics
        .add("ward_ingest_received_total", &labels, events.len() as u64);
    st.metrics
        .add("ward_ingest_rejected_total", &labels, bad as u64);
    super::http::count_missing_fields(&st.metrics, &who.source, &events);
    let n = events.len();
    let batch = Batch {
        events,
        input: input.into(),
        source: who.source.clone(),
        tenant: who.tenant.clone(),
        received,
    };
    match st.pipeline.submit_wait(batch).await {
        Ok(_) => st
            .metrics
            .add("ward_ingest_accepted_total", &labels, (n - bad) as u64),
        Err(e) => {
            st.metrics.add("ward_ingest_lost_total", &labels, n as u64);
            tracing::error!(error = %e, input, "syslog batch could not be stored");
        }
    }
}

/// Serves syslog over UDP until the process ends.
pub async fn serve_udp(st: Arc<AppState>, socket: UdpSocket, who: Attribution) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let received = Instant::now();
        let mut frames = vec![Ok(trim_nl(&buf[..n]).to_vec())];
        // Drain whatever else is already queued, to batch under load.
        while frames.len() < 512 {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => frames.push(Ok(trim_nl(&buf[..n]).to_vec())),
                Err(_) => break,
            }
        }
        let bytes = frames.iter().map(|f| f.as_ref().map_or(0, Vec::len)).sum();
        let (events, bad) = parse_frames(frames, "syslog-udp", &who, &st.limits);
        deliver(&st, "syslog-udp", &who, events, bad, bytes, received).await;
    }
}

fn trim_nl(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &b[..end]
}

/// Serves syslog over TCP until the process ends.
pub async fn serve_tcp(
    st: Arc<AppState>,
    listener: TcpListener,
    who: Attribution,
    max_connections: usize,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        let Ok((mut sock, _peer)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let st = Arc::clone(&st);
        let who = who.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut framer = ward_event::syslog::Framer::new(&st.limits);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let received = Instant::now();
                let frames = if n == 0 {
                    // finish() returns the truncated tail, then any frames
                    // recovered after it, one per call.
                    std::iter::from_fn(|| framer.finish()).collect()
                } else {
                    framer.push(&buf[..n])
                };
                if !frames.is_empty() {
                    let (events, bad) = parse_frames(frames, "syslog-tcp", &who, &st.limits);
                    // Waiting here is the back-pressure: we do not read more
                    // until the pipeline has taken this batch.
                    deliver(&st, "syslog-tcp", &who, events, bad, n, received).await;
                }
                if n == 0 {
                    break;
                }
            }
        });
    }
}
