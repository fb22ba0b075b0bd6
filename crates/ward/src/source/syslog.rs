//! Syslog over UDP (one message per datagram) and TCP (LF or octet-counted
//! framing, RFC 6587), RFC 5424 and RFC 3164. A TCP connection is read in
//! batches: each read goes on with whatever the socket already holds, up
//! to [`BATCH_BYTES`], and the batch is framed, masked, decoded and stored
//! as one. While a batch is being decoded, redacted and made durable, the
//! next one is read: at most [`IN_FLIGHT`] batches of a connection are on
//! their way at once, and the connection is read no faster than the
//! pipeline stores them, so a full pipeline or a store that cannot write
//! (a full disk) stops the sender instead of dropping: a batch that was not
//! stored is retried with back-off, and once [`IN_FLIGHT`] batches wait,
//! nothing more is read. A frame that cannot be parsed becomes a
//! dead-letter event. When Ward stops, listeners stop accepting and each
//! connection stores what it has read, then closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, UdpSocket};

use super::keyblock::{self, MAX_SENDERS, Trackers};
use super::{Origin, SourceContext, Tally, Wait};
use crate::metrics::thread_cpu;
use crate::model::Event;
use crate::normalize;
use crate::pipeline::SubmitError;

/// Where syslog events are attributed.
#[derive(Clone)]
pub struct Attribution {
    pub source: String,
    pub tenant: String,
    /// `syslog.recognizer`, when configured.
    pub recognizer: Option<String>,
}

/// Frames read from a socket, parsed again for each attempt to store them.
type Frames = [Result<Vec<u8>, ward_event::FrameError>];

/// Longest pause between two attempts to store the same batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Bytes of a TCP connection read into one batch when the socket has them
/// waiting (a read that finds nothing more ends the batch sooner).
pub const BATCH_BYTES: usize = 512 * 1024;

/// Batches of one TCP connection on their way to the store at once: the
/// connection reads and frames the next batch while earlier ones are
/// decoded, redacted and appended, so that one sender keeps every core
/// busy. Also the bound on what is read ahead of a batch that cannot be
/// stored yet.
pub const IN_FLIGHT: usize = 4;

fn parse_frames(
    frames: &Frames,
    input: &str,
    who: &Attribution,
    limits: &ward_event::Limits,
) -> (Vec<Event>, usize, Tally) {
    let mut ctx = normalize::context(input, &who.source, &who.tenant);
    ctx.declared = who.recognizer.clone();
    let mut events = Vec::with_capacity(frames.len());
    let mut bad = 0;
    let mut tally = Tally::default();
    for f in frames {
        let event = match f {
            Ok(msg) => match ward_event::syslog::parse(msg, ctx.received) {
                Ok(e) => normalize::finish(e, &ctx),
                Err(reason) => {
                    bad += 1;
                    let dl = ward_event::dead_letter(&ctx, &reason, msg, limits);
                    normalize::finish(dl, &ctx)
                }
            },
            Err(err) => {
                bad += 1;
                let dl = ward_event::dead_letter(&ctx, &err.to_string(), b"", limits);
                normalize::finish(dl, &ctx)
            }
        };
        tally.observe(&event);
        events.push(event);
    }
    (events, bad, tally)
}

/// Stores one batch of frames, retrying with back-off while it is not
/// stored (a full disk, a failing store): the caller reads nothing more
/// meanwhile, which is the back-pressure: a TCP sender's window fills and
/// it stops, instead of frames being read and dropped. Gives up only when
/// Ward stops or the batch itself can never be stored.
async fn store(
    ctx: &SourceContext,
    input: &str,
    who: &Attribution,
    frames: &Frames,
    bytes: usize,
    received: Instant,
) {
    let origin = Origin {
        input,
        source: &who.source,
        tenant: &who.tenant,
    };
    let cpu = thread_cpu();
    let (mut events, bad, tally) = parse_frames(frames, input, who, &ctx.limits);
    ctx.metrics.stage_cpu("decode", cpu);
    ctx.count_arrived(origin, events.len(), bad, bytes, &tally);
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = ctx.submit(origin, events, bad, received, Wait::Yes).await;
        let e = match attempt {
            Ok(_) => return,
            Err(e @ (SubmitError::Closed | SubmitError::Invalid(_))) => e,
            Err(e) => {
                ctx.metrics
                    .add("ward_syslog_store_retries_total", &[("input", input)], 1);
                tracing::warn!(error = %e, input, retry_in = ?backoff,
                    "syslog batch not stored; holding the sender and retrying");
                if ctx.stop.is_cancelled() {
                    e
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = ctx.stop.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // The batch went with the attempt; the frames are kept,
                    // so a retry (rare) decodes them again rather than every
                    // batch paying for a copy.
                    let cpu = thread_cpu();
                    events = parse_frames(frames, input, who, &ctx.limits).0;
                    ctx.metrics.stage_cpu("decode", cpu);
                    continue;
                }
            }
        };
        tracing::error!(error = %e, input, frames = frames.len(), "syslog batch could not be stored");
        return;
    }
}

/// Serves syslog over UDP until Ward stops.
pub async fn serve_udp(ctx: SourceContext, socket: UdpSocket, who: Attribution) {
    let mut buf = vec![0u8; 65_536];
    // Key blocks are followed per sending host (bounded: MAX_SENDERS).
    let mut keys: Trackers<IpAddr> = Trackers::new(MAX_SENDERS);
    loop {
        let got = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = ctx.stop.cancelled() => return,
        };
        let Ok((n, peer)) = got else {
            continue;
        };
        let received = Instant::now();
        let mut frame = trim_nl(&buf[..n]).to_vec();
        keyblock::mask_frame(keys.get(&peer.ip()), &mut frame, received);
        let mut frames = vec![Ok(frame)];
        // Drain whatever else is already queued, to batch under load.
        while frames.len() < 512 {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => {
                    let mut frame = trim_nl(&buf[..n]).to_vec();
                    keyblock::mask_frame(keys.get(&peer.ip()), &mut frame, received);
                    frames.push(Ok(frame));
                }
                Err(_) => break,
            }
        }
        let bytes = frames.iter().map(|f| f.as_ref().map_or(0, Vec::len)).sum();
        store(&ctx, "syslog-udp", &who, &frames, bytes, received).await;
    }
}

fn trim_nl(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &b[..end]
}

/// Bounds on syslog TCP connections (`[syslog]`).
#[derive(Clone, Copy)]
pub struct TcpLimits {
    /// All connections at once.
    pub max_connections: usize,
    /// Connections at once from one IP address.
    pub max_per_address: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

/// Serves syslog over TCP until Ward stops; returns once every connection
/// has stored what it read and closed. A new connection beyond the
/// per-address cap is closed at once (one host cannot take every slot); one
/// beyond the global cap waits for a slot.
pub async fn serve_tcp(
    ctx: SourceContext,
    listener: TcpListener,
    who: Attribution,
    limits: TcpLimits,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_address: Arc<parking_lot::Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = ctx.stop.cancelled() => break,
        };
        let Ok((sock, peer)) = accepted else {
            continue;
        };
        let Some(slot) = AddressSlot::take(&per_address, peer.ip(), limits.max_per_address) else {
            ctx.metrics.add(
                "ward_syslog_connections_refused_total",
                &[("reason", "per_address")],
                1,
            );
            tracing::warn!(peer = %peer.ip(), cap = limits.max_per_address,
                "syslog tcp connection refused: too many from this address");
            drop(sock);
            continue;
        };
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p,
            () = ctx.stop.cancelled() => break,
        };
        let Ok(permit) = permit else {
            break;
        };
        // Finished connections are reaped as new ones arrive.
        while connections.try_join_next().is_some() {}
        let held = (permit, slot);
        connections.spawn(connection(
            ctx.clone(),
            sock,
            who.clone(),
            limits.idle_timeout,
            held,
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One connection's place in the per-address count, given back on drop.
struct AddressSlot {
    counts: Arc<parking_lot::Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    fn take(
        counts: &Arc<parking_lot::Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        max: usize,
    ) -> Option<AddressSlot> {
        let mut c = counts.lock();
        let n = c.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: Arc::clone(counts),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut c = self.counts.lock();
        if let Some(n) = c.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

/// Reads one TCP connection until its end or until Ward stops. What was
/// read is always stored before the connection closes.
async fn connection(
    ctx: SourceContext,
    mut sock: tokio::net::TcpStream,
    who: Attribution,
    idle_timeout: Duration,
    _held: (tokio::sync::OwnedSemaphorePermit, AddressSlot),
) {
    let mut framer = ward_event::syslog::Framer::new(&ctx.limits);
    let mut buf = vec![0u8; 64 * 1024];
    let mut keys = ward_redact::BlockTracker::default();
    let mut storing = tokio::task::JoinSet::new();
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle_timeout, sock.read(&mut buf)) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
                Err(_) => {
                    ctx.metrics.add("ward_syslog_idle_closed_total", &[], 1);
                    0
                }
            },
            () = ctx.stop.cancelled() => 0,
        };
        let received = Instant::now();
        let cpu = thread_cpu();
        let mut frames = framer.push(&buf[..n]);
        let (mut bytes, mut end) = (n, n == 0);
        // What the socket already holds joins this batch.
        while !end && bytes < BATCH_BYTES {
            match sock.try_read(&mut buf) {
                Ok(0) => end = true,
                Ok(m) => {
                    frames.extend(framer.push(&buf[..m]));
                    bytes += m;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => end = true,
            }
        }
        if end {
            // finish() returns the truncated tail, then any frames
            // recovered after it, one per call.
            frames.extend(std::iter::from_fn(|| framer.finish()));
        }
        // Masked once, before parsing, in stream order: a retried batch
        // parses the masked frames again.
        for frame in frames.iter_mut().flatten() {
            keyblock::mask_frame(&mut keys, frame, received);
        }
        ctx.metrics.stage_cpu("frame", cpu);
        if !frames.is_empty() {
            while storing.len() >= IN_FLIGHT {
                storing.join_next().await;
            }
            let (ctx, who) = (ctx.clone(), who.clone());
            storing.spawn(async move {
                store(&ctx, "syslog-tcp", &who, &frames, bytes, received).await;
            });
        }
        if end {
            break;
        }
    }
    while storing.join_next().await.is_some() {}
}
