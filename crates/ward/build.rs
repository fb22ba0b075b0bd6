//! Embeds the built-in rule pack (`rules/`), mapping pipelines
//! (`pipelines/`) and compliance controls and catalogs (`compliance/`) into
//! the binary, so that an installed `ward` needs no
//! files beside it. Test-event files next to the rules are left out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            collect(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
            let test = name.contains(".test.") || name.contains(".pos.") || name.contains(".neg.");
            if yaml && !test {
                out.push(p);
            }
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../..");
    for (file, groups) in [
        (
            "builtin.rs",
            &[
                ("BUILTIN_RULES", "rules"),
                ("BUILTIN_PIPELINES", "pipelines"),
            ][..],
        ),
        (
            "builtin_compliance.rs",
            &[("BUILTIN_COMPLIANCE", "compliance")][..],
        ),
    ] {
        embed(&root, file, groups);
    }
}

fn embed(root: &Path, file: &str, groups: &[(&str, &str)]) {
    let mut code = String::new();
    for &(name, dir) in groups {
        let base = root.join(dir);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        collect(&base, &mut files);
        let _ = writeln!(
            code,
            "/// `{dir}/` files: (path relative to the repository, contents)."
        );
        let _ = writeln!(code, "pub static {name}: &[(&str, &str)] = &[");
        for f in &files {
            println!("cargo:rerun-if-changed={}", f.display());
            let rel = f.strip_prefix(root).unwrap_or(f).display().to_string();
            let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
            let _ = writeln!(
                code,
                "    ({rel:?}, include_str!({:?})),",
                abs.display().to_string()
            );
        }
        let _ = writeln!(code, "];");
        // Directories are only re-scanned when their mtime changes; new
        // files in subdirectories are caught by watching those too.
        let mut dirs = vec![base.clone()];
        while let Some(d) = dirs.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        println!("cargo:rerun-if-changed={}", e.path().display());
                        dirs.push(e.path());
                    }
                }
            }
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join(file);
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
