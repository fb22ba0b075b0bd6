//! SBOMs in, vulnerabilities out, against a real `ward serve`: an SBOM
//! made by `cyclonedx-py` from a requirements file and a hand-written SPDX
//! 2.3 document, matched against hand-written OSV records put in place by
//! `ward osv sync` (from a directory and over HTTP); VEX statements (OpenVEX
//! on its own, CycloneDX in the SBOM) suppressing; critical and high
//! vulnerabilities as events marked new, unchanged or fixed; the gate
//! denying on a critical one without VEX, never counting another tenant's
//! SBOM; bad SBOMs refused whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, free_port, require, s};

const GLOBEX: &str = "globex-ingest-token-0123456789";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/fixtures/sbom/{name}"))
}

fn ward(args: &[&str]) -> std::process::Output {
    Command::new(crate::harness::ward_bin())
        .args(args)
        .output()
        .unwrap()
}

/// An SBOM of `requirements` made by `cyclonedx-py`.
fn cyclonedx_py(dir: &Path, name: &str, requirements: &str, spec: &str) -> Value {
    let req = dir.join(format!("{name}.txt"));
    std::fs::write(&req, requirements).unwrap();
    let out = dir.join(format!("{name}.cdx.json"));
    let o = Command::new("cyclonedx-py")
        .args([
            "requirements",
            req.to_str().unwrap(),
            "--spec-version",
            spec,
        ])
        .args(["--output-format", "JSON", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn import(w: &Ward, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    w.post_as(
        token,
        &format!("/api/v1/import/sbom?{query}"),
        "application/json",
        body,
    )
}

/// Runs a `ward` client command that must succeed; its standard output.
fn cli_ok(w: &Ward, args: &[&str]) -> String {
    let o = w.cli(args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn gate(w: &Ward, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["gate", "check", "--format", "json"];
    all.extend_from_slice(args);
    let out = w.cli(&all, None);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stderr).into_owned()));
    (out.status.code().unwrap(), v)
}

fn ours(w: &Ward, q: &str) -> Vec<Value> {
    w.search(&format!("tenant.id:default AND {q}"))
}

fn counts(v: &Value) -> (Value, Value, Value) {
    (v["new"].clone(), v["unchanged"].clone(), v["fixed"].clone())
}

#[test]
fn sbom_vulnerabilities_are_tracked_vexed_and_gate_the_deploy() {
    require("cyclonedx-py");
    let tmp = tempfile::tempdir().unwrap();
    let osv = tmp.path().join("osv");

    // The OSV directory, filled from a local mirror; the broken record is
    // refused by name.
    let o = ward(&[
        "osv",
        "sync",
        "--from",
        fixture("osv").to_str().unwrap(),
        "--into",
        osv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("5 records written"), "{said}");
    assert!(said.contains("1 refused"), "{said}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.json") && err.contains("modified"),
        "{err}"
    );

    let cfg = format!(
        "[gate]\nosv_dir = {:?}\n\n[[sources]]\nname = \"globex-app\"\ntenant = \"globex\"\ntoken = \"{GLOBEX}\"\n",
        osv.to_str().unwrap()
    );
    let w = Ward::start_with(Some(&cfg), &[]);
    let bom1 = cyclonedx_py(
        tmp.path(),
        "r1",
        "requests==2.31.0\nurllib3==1.26.5\nflask==2.0.1\n",
        "1.6",
    );
    let bom2 = cyclonedx_py(
        tmp.path(),
        "r2",
        "requests==2.31.0\nurllib3==1.26.18\nflask==2.0.1\n",
        "1.4",
    );

    // Flask's vulnerability is not_affected per an OpenVEX document that
    // names it by its CVE alias.
    cli_ok(
        &w,
        &[
            "import",
            "vex",
            fixture("flask.openvex.json").to_str().unwrap(),
            "--service",
            "shop",
        ],
    );

    let vex = w.wait_for("tenant.id:default AND event.action:vex_import", 1);
    assert_eq!(s(&vex[0], "service.name"), "shop");
    // A document that is neither CycloneDX VEX nor OpenVEX is refused.
    let (st, a) = w.post_as(
        TOKEN,
        "/api/v1/import/vex?service=shop",
        "application/json",
        r#"{"@context": "https://example.com/other", "statements": []}"#,
    );
    assert_eq!(st, 400, "{a}");
    assert!(a["error"].as_str().unwrap().contains("OpenVEX"), "{a}");

    // c1: urllib3 critical (range), requests high (range); flask critical
    // but VEX'd; OSV-TEST-0002 (requests < 2.0) does not match.
    let f1 = tmp.path().join("r1.cdx.json");
    let said = cli_ok(
        &w,
        &[
            "import",
            "sbom",
            f1.to_str().unwrap(),
            "--service",
            "shop",
            "--commit",
            "c1",
        ],
    );
    assert!(
        said.contains(
            "CycloneDX 1.6 with 3 components: 3 vulnerabilities (1 suppressed by VEX, 1 critical): 2 new, 0 unchanged, 0 fixed"
        ),
        "{said}"
    );
    let ev = w.wait_for("tenant.id:default AND event.dataset:sbom.vulnerability", 2);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let crit = ours(&w, "vulnerability.severity:critical");
    assert_eq!(crit.len(), 1, "{crit:?}");
    let c = &crit[0];
    assert_eq!(s(c, "vulnerability.id"), "OSV-TEST-0001");
    assert_eq!(s(c, "package.name"), "urllib3");
    assert_eq!(s(c, "package.version"), "1.26.5");
    assert_eq!(s(c, "service.name"), "shop");
    assert_eq!(s(c, "ward.scan.state"), "new");
    assert_eq!(
        crate::harness::field(c, "event.category"),
        Some(&json!(["vulnerability"]))
    );
    let high = ours(&w, "vulnerability.id:\"OSV-TEST-0004\"");
    assert_eq!(s(&high[0], "vulnerability.severity"), "high");
    assert!(ours(&w, "vulnerability.id:\"OSV-TEST-0003\"").is_empty());
    assert!(ours(&w, "vulnerability.id:\"OSV-TEST-0002\"").is_empty());

    let (code, v) = gate(&w, &["--service", "shop", "--commit", "c1"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["reasons"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["reasons"][0]["code"], "unhandled_vulnerability", "{v}");
    let detail = v["reasons"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("OSV-TEST-0001") && detail.contains("urllib3"),
        "{v}"
    );

    // Another tenant's SBOM of a service of the same name: its own state
    // (flask is not VEX'd there), never counted for ours.
    let (st, a) = import(
        &w,
        GLOBEX,
        "service=shop&commit=c1",
        bom1.to_string().into_bytes(),
    );
    assert_eq!(st, 200, "{a}");
    assert_eq!(
        (a["critical"].clone(), a["new"].clone()),
        (json!(2), json!(3))
    );

    // c2 upgrades urllib3: fixed; requests unchanged.
    let (st, a) = import(
        &w,
        TOKEN,
        "service=shop&commit=c2",
        bom2.to_string().into_bytes(),
    );
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["format"], "CycloneDX 1.4");
    assert_eq!(counts(&a), (json!(0), json!(1), json!(1)), "{a}");
    assert_eq!(a["compared_with"], "c1");
    let fixed = w.wait_for("tenant.id:default AND ward.scan.state:fixed", 1);
    assert_eq!(s(&fixed[0], "vulnerability.id"), "OSV-TEST-0001");
    assert_eq!(s(&fixed[0], "event.action"), "vulnerability_fixed");
    assert_eq!(
        ours(
            &w,
            "vulnerability.id:\"OSV-TEST-0004\" AND ward.scan.state:unchanged"
        )
        .len(),
        1
    );
    let (code, v) = gate(&w, &["--service", "shop", "--commit", "c2"]);
    assert_eq!(code, 0, "{v}");

    // c3 brings the vulnerable urllib3 back, with a CycloneDX VEX
    // statement in the SBOM naming the component by its bom-ref.
    let mut bom3 = bom1.clone();
    let urllib3 = bom3["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "urllib3")
        .unwrap()["bom-ref"]
        .clone();
    bom3["vulnerabilities"] = json!([{"id": "OSV-TEST-0001",
        "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
        "affects": [{"ref": urllib3}]}]);
    let (st, a) = import(
        &w,
        TOKEN,
        "service=shop&commit=c3",
        bom3.to_string().into_bytes(),
    );
    assert_eq!(st, 200, "{a}");
    assert_eq!(
        (a["suppressed"].clone(), a["critical"].clone()),
        (json!(2), json!(0)),
        "{a}"
    );
    let (code, v) = gate(&w, &["--service", "shop"]);
    assert_eq!(code, 0, "{v}");
    // A statement for another product does not suppress.
    bom3["vulnerabilities"][0]["affects"] = json!([{"ref": "pkg:pypi/urllib3@2.0.0"}]);
    let (st, a) = import(
        &w,
        TOKEN,
        "service=shop&commit=c4",
        bom3.to_string().into_bytes(),
    );
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["critical"], 1, "{a}");
    let (code, _) = gate(&w, &["--service", "shop"]);
    assert_eq!(code, 1);

    // A hand-written SPDX 2.3 document: lodash matches a SEMVER range with
    // a CVSS 3.1 vector of 7.2 (high); the package without a purl matches
    // nothing.
    let said = cli_ok(
        &w,
        &[
            "import",
            "sbom",
            fixture("billing.spdx.json").to_str().unwrap(),
            "--service",
            "billing",
        ],
    );
    assert!(
        said.contains(
            "SPDX 2.3 with 3 components: 1 vulnerabilities (0 suppressed by VEX, 0 critical): 1 new"
        ),
        "{said}"
    );
    let lodash = w.wait_for("tenant.id:default AND package.name:lodash", 1);
    assert_eq!(s(&lodash[0], "vulnerability.severity"), "high");
    assert_eq!(s(&lodash[0], "package.version"), "4.17.20");
    assert_eq!(s(&lodash[0], "service.name"), "billing");
    let (code, v) = gate(&w, &["--service", "billing"]);
    assert_eq!(code, 0, "{v}");

    // Bad SBOMs: a clear 400 naming what is wrong; nothing stored.
    let before = ours(&w, "event.dataset:sbom.vulnerability").len();
    let text = bom1.to_string();
    let mut old = bom1.clone();
    old["specVersion"] = json!("1.3");
    let mut nameless = bom1.clone();
    nameless["components"][1]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let mut spdx: Value =
        serde_json::from_slice(&std::fs::read(fixture("billing.spdx.json")).unwrap()).unwrap();
    spdx["packages"][2]["externalRefs"] = json!("pkg:npm/x@1");
    let mut many = bom1.clone();
    many["components"] = Value::Array(vec![json!({"name": "x", "version": "1"}); 100_001]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            text.as_bytes()[..text.len() / 2].to_vec(),
            "SBOM: not a JSON document",
        ),
        (
            old.to_string().into_bytes(),
            "specVersion: CycloneDX \"1.3\"",
        ),
        (
            nameless.to_string().into_bytes(),
            "components[1].name: missing",
        ),
        (
            spdx.to_string().into_bytes(),
            "packages[2].externalRefs: not an array",
        ),
        (
            br#"{"components": []}"#.to_vec(),
            "neither CycloneDX (\"bomFormat\") nor SPDX",
        ),
        (
            many.to_string().into_bytes(),
            "components: more than 100000",
        ),
    ];
    for (body, want) in cases {
        let (st, a) = import(&w, TOKEN, "service=shop&commit=c5", body);
        assert!(st == 400 || st == 413, "{want}: {st} {a}");
        let e = a["error"].as_str().unwrap_or_default();
        assert!(e.contains(want), "{want}: {a}");
    }
    let (st, a) = import(&w, TOKEN, "service=sh%0Aop", bom1.to_string().into_bytes());
    assert_eq!(st, 400, "{a}");
    // Over limits.max_request_bytes (16 MiB): refused as sent, and after
    // decompression too.
    let (st, a) = import(&w, TOKEN, "service=shop", vec![b' '; 17 << 20]);
    assert_eq!(st, 413, "{a}");
    assert!(
        a.as_str().unwrap_or_default().contains("length limit"),
        "{a}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &vec![b' '; 17 << 20]).unwrap();
    let r = Ward::client()
        .post(format!("{}/api/v1/import/sbom?service=shop", w.url()))
        .bearer_auth(TOKEN)
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e = r.text().unwrap();
    assert!(e.contains("16777216"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ours(&w, "event.dataset:sbom.vulnerability").len(), before);
    // The state did not move: c4 again compares with c3 as before.
    let (_, a) = import(
        &w,
        TOKEN,
        "service=shop&commit=c4",
        bom3.to_string().into_bytes(),
    );
    assert_eq!(a["compared_with"], "c3", "{a}");

    // Every vulnerability event is the importer's tenant's.
    for e in w.search("event.dataset:sbom.vulnerability AND service.name:billing") {
        assert_eq!(s(&e, "tenant.id"), "default");
    }
}

#[test]
fn osv_sync_over_http_and_a_missing_osv_dir_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    // The per-ecosystem all.zip layout, served by Python's http.server.
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("PyPI")).unwrap();
    crate::harness::python(
        "import sys, zipfile, pathlib\n\
         src = pathlib.Path(sys.argv[1])\n\
         with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
         \x20   for p in sorted(src.glob('PyPI/*.json')):\n\
         \x20       z.write(p, p.name)\n\
         \x20   z.write(src / 'npm' / 'broken.json', 'OSV-TEST-0099.json')\n",
        &[
            fixture("osv").to_str().unwrap(),
            site.join("PyPI/all.zip").to_str().unwrap(),
        ],
    );
    let port = free_port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(&site)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let into = tmp.path().join("osv");
    let url = format!("http://127.0.0.1:{port}/PyPI/all.zip");
    let o = ward(&[
        "osv",
        "sync",
        "--from",
        &url,
        "--into",
        into.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        said.contains("4 records written") && said.contains("1 refused"),
        "{said}"
    );
    assert!(err.contains("all.zip:OSV-TEST-0099.json"), "{err}");
    assert!(into.join("OSV-TEST-0001.json").is_file());

    // A missing archive: an error, and the directory stays as it was.
    let gone = format!("http://127.0.0.1:{port}/npm/all.zip");
    let o = ward(&[
        "osv",
        "sync",
        "--from",
        &gone,
        "--into",
        into.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));
    assert_eq!(std::fs::read_dir(&into).unwrap().count(), 4);
    let _ = server.kill();
    let _ = server.wait();

    // `[gate] osv_dir` naming no directory is a configuration error.
    let cfg = tmp.path().join("ward.toml");
    std::fs::write(&cfg, "[gate]\nosv_dir = \"/nonexistent/osv\"\n").unwrap();
    let o = ward(&["config", "check", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        all.contains("gate.osv_dir") && all.contains("/nonexistent/osv"),
        "{all}"
    );
}
