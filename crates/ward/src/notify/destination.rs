//! The destination guard: outgoing requests may only reach global unicast
//! addresses unless `allow_private_destinations` is set. Host names are
//! resolved and EVERY address is checked against an allow-list ([`is_public`]:
//! IPv6 forms embedding IPv4 are refused), on every connection, and the
//! connection uses only the checked addresses, so a webhook URL cannot reach loopback, private, link-local or
//! cloud-metadata addresses. Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Whether an address is global unicast (allowed without
/// `allow_private_destinations`). An allow-list: IPv6 must be in
/// 2000::/3 outside every special-purpose block of the IANA registry;
/// every IPv6 form that embeds IPv4 (mapped `::ffff:0:0/96`, SIIT
/// `::ffff:0:0:0/96`, compatible, NAT64 `64:ff9b::/96` and
/// `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo) is refused outright, since
/// the host it reaches depends on translators Ward does not control.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000; // 2000::/3
    // 2001::/23 IETF protocol assignments (Teredo, ORCHID, benchmarking…)
    // and 2001:db8::/32 documentation.
    let ietf = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    let six_to_four = s[0] == 0x2002;
    let documentation = s[0] == 0x3fff && (s[1] & 0xf000) == 0; // 3fff::/20
    let srv6 = s[0] == 0x5f00;
    global_unicast && !(ietf || six_to_four || documentation || srv6)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}

/// Checks destinations against the policy.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub allow_private: bool,
}

impl Guard {
    /// Resolves `host:port` and returns the addresses, or why it is refused.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("cannot resolve the destination host: {e}"))?
                .collect(),
        };
        self.check(&addrs)?;
        Ok(addrs)
    }

    /// Refuses the whole set when any address is not allowed.
    pub fn check(&self, addrs: &[SocketAddr]) -> Result<(), String> {
        if addrs.is_empty() {
            return Err("the destination host has no address".into());
        }
        if !self.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(
                "destination refused: it resolves to a private, loopback or link-local address \
                        (set allow_private_destinations = true to allow it)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Checks a URL whose host is an IP literal (reqwest does not resolve those).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http and https URLs are allowed".into());
        }
        let host = url.host_str().ok_or("the URL has no host")?;
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return Ok(()); // a name: checked by the resolver
        };
        self.check(&[SocketAddr::new(ip, 0)])
    }
}

/// reqwest's resolver with the guard applied to every answer.
pub struct GuardedResolver(pub Guard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0;
        Box::pin(async move {
            let addrs = guard
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// The HTTP client every integration uses: guarded resolver, no redirects.
pub fn http_client(guard: Guard, timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    guarded!(reqwest::Client::builder(), guard, timeout)
}

/// One builder chain for the async and the blocking client.
macro_rules! guarded {
    ($builder:expr, $guard:expr, $timeout:expr) => {
        $builder
            .dns_resolver(Arc::new(GuardedResolver($guard)))
            .redirect(reqwest::redirect::Policy::none())
            .timeout($timeout)
            .connect_timeout($timeout)
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
    };
}
use guarded;

/// The same for a blocking caller (a thread of its own, never inside the
/// async runtime): the store witness.
pub fn blocking_http_client(
    guard: Guard,
    timeout: std::time::Duration,
) -> Result<reqwest::blocking::Client, String> {
    guarded!(reqwest::blocking::Client::builder(), guard, timeout)
}

/// SSRF tests run inside a network namespace with only loopback, so a
/// guard bug cannot send a packet anywhere.
#[cfg(test)]
pub(crate) mod netns {
    /// Runs the ignored test `name` of this test binary inside `unshare -n`
    /// (as root; skipped with a message elsewhere) and requires it to pass.
    pub(crate) fn run_inside(name: &str) {
        let unshare = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("unshare").exists()));
        if !rustix::process::getuid().is_root() || !unshare {
            eprintln!("skipped: needs root and unshare (scripts/test.sh runs as root)");
            return;
        }
        let out = std::process::Command::new("unshare")
            .args(["-n", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", name, "--ignored"])
            .env("WARD_SSRF_NETNS", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    /// Inside: checks that loopback is the only interface and brings it up.
    pub(crate) fn loopback_only() {
        assert!(std::env::var_os("WARD_SSRF_NETNS").is_some());
        // /proc/net/dev lists the interfaces of this network namespace.
        let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
        let ifaces: Vec<&str> = dev
            .lines()
            .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
            .collect();
        assert_eq!(ifaces, vec!["lo"], "not isolated");
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "ff02::1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            // Every IPv4-in-IPv6 form, even of a public address.
            "::ffff:0:7f00:1",
            "::ffff:0:808:808",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "64:ff9b:1::7f00:1",
            "2002:808:808::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "100::1",
            "fec0::1",
            "::8.8.8.8",
            "192.88.99.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[tokio::test]
    async fn resolves_and_checks_every_address() {
        let strict = Guard {
            allow_private: false,
        };
        let err = strict.resolve("localhost", 80).await.unwrap_err();
        assert!(err.contains("private"), "{err}");
        assert!(
            strict
                .check_url(&"http://[::ffff:7f00:1]/x".parse().unwrap())
                .is_err()
        );
        assert!(
            strict
                .check_url(&"file:///etc/passwd".parse().unwrap())
                .is_err()
        );
        let open = Guard {
            allow_private: true,
        };
        assert!(!open.resolve("127.0.0.1", 80).await.unwrap().is_empty());
    }

    /// Every address form of loopback, through the real client and the
    /// real resolver, inside a network namespace that has only a loopback
    /// interface (`unshare -n`, as root), so a guard bug cannot send a
    /// packet anywhere: nothing may reach the listener, and with private
    /// destinations allowed the same listener is reached (so the test can
    /// fail).
    #[test]
    fn ssrf_in_a_loopback_only_namespace() {
        netns::run_inside("notify::destination::tests::ssrf_inner");
    }

    #[tokio::test]
    #[ignore = "run by ssrf_in_a_loopback_only_namespace inside unshare -n"]
    async fn ssrf_inner() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        netns::loopback_only();
        let l4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l4.local_addr().unwrap().port();
        let l6 = tokio::net::TcpListener::bind(("::1", port)).await.ok();
        let accepted = Arc::new(AtomicUsize::new(0));
        for l in std::iter::once(l4).chain(l6) {
            let accepted = Arc::clone(&accepted);
            let app = axum::Router::new().fallback(move || {
                accepted.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            });
            tokio::spawn(async move { axum::serve(l, app).await });
        }
        let ctx = |allow_private| crate::notify::Ctx {
            http: http_client(Guard { allow_private }, std::time::Duration::from_secs(2)).unwrap(),
            guard: Guard { allow_private },
            timeout: std::time::Duration::from_secs(2),
        };
        let strict = ctx(false);
        let forms = [
            "127.0.0.1",
            "localhost",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0.0.0.0",
            "[::1]",
            "[::]",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "[::ffff:0:7f00:1]",
            "[::7f00:1]",
            "[64:ff9b::7f00:1]",
            "[64:ff9b:1::7f00:1]",
            "[2002:7f00:1::1]",
            "[2001::7f00:1]",
        ];
        for host in forms {
            let url: reqwest::Url = format!("http://{host}:{port}/hook").parse().unwrap();
            let outcome =
                crate::notify::post(&strict, &url, &[], "text/plain", b"x".to_vec()).await;
            assert!(
                !matches!(outcome, crate::notify::Outcome::Delivered(_)),
                "{host} was allowed"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "a refused form reached the listener"
        );
        let url: reqwest::Url = format!("http://127.0.0.1:{port}/hook").parse().unwrap();
        let outcome = crate::notify::post(&ctx(true), &url, &[], "text/plain", b"x".to_vec()).await;
        assert!(
            matches!(outcome, crate::notify::Outcome::Delivered(_)),
            "{outcome:?}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
