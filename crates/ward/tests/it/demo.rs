//! `ward demo` against a real `ward serve`: every planted attack raises its
//! alert, and the benign traffic raises nothing at high or critical.

use crate::harness::Ward;

#[test]
fn demo_detects_every_planted_attack() {
    let w = Ward::start();
    let out = w.cli(&["demo", "--date", "2026-11-20", "--timeout", "150"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "ward demo missed an attack or failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        w.log()
    );
    assert!(
        stdout.contains("7 of 7 planted attacks detected"),
        "{stdout}"
    );
    let benign = stdout
        .lines()
        .find(|l| l.starts_with("alerts raised by benign traffic"))
        .unwrap_or_else(|| panic!("no benign summary in:\n{stdout}"));
    println!("{benign}");
    assert!(
        !benign.contains("high") && !benign.contains("critical"),
        "benign traffic raised high or critical alerts:\n{stdout}"
    );
}
