//! `ward serve`: opens the store, starts the pipeline, the detection and
//! alerting tasks, the HTTP server and the syslog listeners, and runs until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::{TcpListener, UdpSocket};

use crate::api::{AppState, router};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, Stages};
use crate::source::Tokens;

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create data directory {} (set server.data_dir or WARD_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    let metrics = Arc::new(Metrics::default());
    let store = Arc::new(crate::store::open(&config)?);
    let redact = Arc::new(crate::redact::Stage::new(
        &config.raw.redact,
        &config.data_dir,
    )?);
    let (tokens, generated) = Tokens::from_config(&config)?;
    let pipeline = Pipeline::start(
        Stages {
            redact: Arc::clone(&redact),
            prompt: Arc::new(ward_prompt::Detector::new()),
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
        },
        config.raw.limits.queue_capacity,
        8,
    );
    let (alerts, audit) = crate::alert::Alerts::start(&config, Arc::clone(&metrics)).await?;
    let alerts = Arc::new(alerts);
    crate::pipeline::store_audit_events(audit, pipeline.clone());
    crate::pipeline::start_detection(&config, &store, &pipeline, &alerts, &metrics)?;
    tokio::spawn(crate::store::retention_task(
        Arc::clone(&store),
        config.retention_interval,
    ));
    let state = Arc::new(AppState {
        config: Arc::clone(&config),
        pipeline,
        store: Arc::clone(&store),
        tokens: Arc::new(tokens),
        metrics,
        limits: crate::normalize::limits(&config.raw.limits),
        redact,
        alerts,
    });

    let http = TcpListener::bind(config.http_addr).await.with_context(|| {
        format!(
            "cannot listen for HTTP on {} (server.http_addr / WARD_HTTP_ADDR)",
            config.http_addr
        )
    })?;
    let http_addr = http.local_addr()?;
    let who = crate::source::syslog::Attribution {
        source: config.raw.syslog.source.clone(),
        tenant: config.raw.syslog.tenant.clone(),
    };
    let mut syslog_desc = Vec::new();
    if config.raw.syslog.udp {
        let sock = UdpSocket::bind(config.syslog_addr).await.with_context(|| {
            format!(
                "cannot listen for syslog on udp {} (syslog.addr / WARD_SYSLOG_ADDR)",
                config.syslog_addr
            )
        })?;
        syslog_desc.push(format!("udp {}", sock.local_addr()?));
        tokio::spawn(crate::source::syslog::serve_udp(
            Arc::clone(&state),
            sock,
            who.clone(),
        ));
    }
    if config.raw.syslog.tcp {
        let l = TcpListener::bind(config.syslog_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen for syslog on tcp {} (syslog.addr / WARD_SYSLOG_ADDR)",
                    config.syslog_addr
                )
            })?;
        syslog_desc.push(format!("tcp {}", l.local_addr()?));
        tokio::spawn(crate::source::syslog::serve_tcp(
            Arc::clone(&state),
            l,
            who,
            config.raw.syslog.max_connections,
        ));
    }
    let mut kafka_desc = Vec::new();
    for k in &config.raw.kafka {
        let source = crate::source::kafka::KafkaSource::new(k)?;
        kafka_desc.push(source.describe());
        tokio::spawn(source.run(Arc::clone(&state)));
    }
    eprintln!("ward is listening");
    eprintln!("  http:   http://{http_addr}");
    eprintln!("  syslog: {}", syslog_desc.join(", "));
    for k in &kafka_desc {
        eprintln!("  kafka:  {k}");
    }
    eprintln!("  data:   {}", config.data_dir.display());
    if let Some(tok) = &generated {
        eprintln!(
            "  ingest token (saved in {}): {}",
            config.data_dir.join("ingest.token").display(),
            tok.expose()
        );
        eprintln!(
            "  try: curl -H 'Authorization: Bearer {}' --data-binary '{{\"event_type\":\"login_failed\",\"user_id\":\"alice\"}}' http://{http_addr}/api/v1/ingest",
            tok.expose()
        );
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(http, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("http server failed")?;
    tracing::info!("shutting down");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
