//! `ward serve`: load the configuration, build the topology, run until a
//! signal, drain. A second signal during the drain stops at once.

use crate::config::Config;

/// Runs the server until SIGINT or SIGTERM, then stops it gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    crate::access::private_data(&data_dir)?;
    let mut ward = crate::topology::build(config).await?;
    banner(&ward, &data_dir);
    tokio::select! {
        () = signal() => {}
        () = ward.http_stopped() => anyhow::bail!("the HTTP server stopped unexpectedly"),
    }
    tokio::spawn(async {
        signal().await;
        eprintln!("second signal: stopping now");
        std::process::exit(130);
    });
    ward.drain().await
}

fn banner(ward: &crate::topology::Topology, data_dir: &std::path::Path) {
    let http = ward.http_addr;
    eprintln!("ward is listening");
    eprintln!("  http:   http://{http}");
    eprintln!("  syslog: {}", ward.syslog.join(", "));
    for k in &ward.kafka {
        eprintln!("  kafka:  {k}");
    }
    eprintln!("  data:   {}", data_dir.display());
    if let Some(tok) = &ward.generated_token {
        eprintln!(
            "  ingest token (saved in {}): {}",
            data_dir.join("ingest.token").display(),
            tok.expose()
        );
        eprintln!("  (shown only now; it is role ingest: it can send events, nothing else)");
        eprintln!(
            "  try: curl -H \"Authorization: Bearer $(cat {})\" --data-binary '{{\"event_type\":\"login_failed\",\"user_id\":\"alice\"}}' http://{http}/api/v1/ingest",
            data_dir.join("ingest.token").display()
        );
        eprintln!("  an administrator key: ward apikey create --name me --role admin");
    }
}

/// Resolves at SIGINT or SIGTERM.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
