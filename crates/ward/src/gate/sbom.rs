//! SBOMs in: CycloneDX JSON 1.4 to 1.6 and SPDX 2.3 JSON, told apart by
//! their own markers (`bomFormat`, `spdxVersion`), read into components
//! (name, version, package URL). VEX statements are read from a
//! CycloneDX document's `vulnerabilities[].analysis` (in the SBOM itself
//! or a separate CycloneDX VEX) and from OpenVEX documents.

use serde_json::Value;

/// Most components (or SPDX packages) in one SBOM.
pub const MAX_COMPONENTS: usize = 100_000;
/// Most VEX statements in one document.
pub const MAX_STATEMENTS: usize = 100_000;
/// Longest kept name, version or package URL, in bytes.
pub const MAX_TEXT: usize = 1024;

/// One component of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    /// The OSV ecosystem its package URL names (`PyPI`, `npm`, …).
    pub ecosystem: Option<String>,
    /// The package's name as OSV spells it in that ecosystem.
    pub osv_name: String,
}

/// A VEX statement: `vulnerability` in `product` (a package URL, or any
/// product when `None`) has `state`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Statement {
    pub vulnerability: String,
    pub product: Option<String>,
    /// As written: `not_affected`, `resolved`, `false_positive`, `affected`, …
    pub state: String,
}

impl Statement {
    /// Whether the statement says the vulnerability needs nothing more.
    pub fn suppresses(&self) -> bool {
        matches!(
            self.state.as_str(),
            "not_affected" | "resolved" | "resolved_with_pedigree" | "false_positive" | "fixed"
        )
    }
}

/// An SBOM read.
#[derive(Debug, Clone)]
pub struct Sbom {
    /// `CycloneDX 1.5`, `SPDX 2.3`.
    pub format: String,
    pub components: Vec<Component>,
    pub statements: Vec<Statement>,
}

/// Reads an SBOM, or says what is wrong and where. Nothing partial is
/// returned.
pub fn parse(body: &[u8]) -> Result<Sbom, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not a JSON document: {e}"))?;
    if v.get("bomFormat").is_some() {
        cyclonedx(&v)
    } else if v.get("spdxVersion").is_some() {
        spdx(&v)
    } else {
        Err("neither CycloneDX (\"bomFormat\") nor SPDX (\"spdxVersion\") JSON".into())
    }
}

fn cyclonedx(v: &Value) -> Result<Sbom, String> {
    if v["bomFormat"] != "CycloneDX" {
        return Err("bomFormat: not \"CycloneDX\"".into());
    }
    let spec = v
        .get("specVersion")
        .and_then(Value::as_str)
        .ok_or("specVersion: missing")?;
    if !matches!(spec, "1.4" | "1.5" | "1.6") {
        return Err(format!(
            "specVersion: CycloneDX {:?} is not accepted; only 1.4, 1.5, 1.6",
            clip(spec, 16)
        ));
    }
    let mut components = Vec::new();
    if let Some(c) = v.pointer("/metadata/component") {
        // The subject itself, when it is a package with a version.
        if c.get("purl").is_some() {
            components.push(component(c, "metadata.component")?);
        }
    }
    // Components nest (`components[].components[]`); walk them all.
    let mut stack: Vec<(String, &Value)> = Vec::new();
    if let Some(list) = v.get("components") {
        let list = list.as_array().ok_or("components: not an array")?;
        for (i, c) in list.iter().enumerate().rev() {
            stack.push((format!("components[{i}]"), c));
        }
    }
    let mut refs = std::collections::HashMap::new();
    while let Some((at, c)) = stack.pop() {
        if let (Some(r), Some(p)) = (
            c.get("bom-ref").and_then(Value::as_str),
            c.get("purl").and_then(Value::as_str),
        ) {
            refs.insert(r.to_owned(), p.to_owned());
        }
        if components.len() >= MAX_COMPONENTS {
            return Err(format!(
                "components: more than {MAX_COMPONENTS}; at most {MAX_COMPONENTS} are accepted"
            ));
        }
        components.push(component(c, &at)?);
        if let Some(sub) = c.get("components") {
            let sub = sub
                .as_array()
                .ok_or_else(|| format!("{at}.components: not an array"))?;
            for (i, s) in sub.iter().enumerate().rev() {
                stack.push((format!("{at}.components[{i}]"), s));
            }
        }
    }
    let statements = cyclonedx_vex(v, &refs)?;
    Ok(Sbom {
        format: format!("CycloneDX {spec}"),
        components,
        statements,
    })
}

fn component(c: &Value, at: &str) -> Result<Component, String> {
    if !c.is_object() {
        return Err(format!("{at}: not an object"));
    }
    let name = field(c, "name", at)?.ok_or_else(|| format!("{at}.name: missing"))?;
    let version = field(c, "version", at)?.unwrap_or_default();
    let purl = field(c, "purl", at)?;
    Ok(make(name, version, purl))
}

fn make(name: String, version: String, purl: Option<String>) -> Component {
    let parsed = purl.as_deref().and_then(parse_purl);
    let (ecosystem, osv_name, version) = match parsed {
        Some(p) => (
            p.ecosystem,
            p.name,
            if version.is_empty() {
                p.version
            } else {
                version
            },
        ),
        None => (None, name.clone(), version),
    };
    Component {
        name,
        version,
        purl,
        ecosystem,
        osv_name,
    }
}

fn field(c: &Value, key: &str, at: &str) -> Result<Option<String>, String> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > MAX_TEXT {
                Err(format!("{at}.{key}: longer than {MAX_TEXT} bytes"))
            } else if s.chars().any(char::is_control) {
                Err(format!("{at}.{key}: holds control characters"))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(_) => Err(format!("{at}.{key}: not a string")),
    }
}

fn spdx(v: &Value) -> Result<Sbom, String> {
    let ver = v
        .get("spdxVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ver != "SPDX-2.3" {
        return Err(format!(
            "spdxVersion: {:?} is not accepted; only SPDX-2.3",
            clip(ver, 16)
        ));
    }
    let packages = match v.get("packages") {
        None => &[][..],
        Some(p) => p.as_array().ok_or("packages: not an array")?,
    };
    if packages.len() > MAX_COMPONENTS {
        return Err(format!(
            "packages: {} packages; at most {MAX_COMPONENTS} are accepted",
            packages.len()
        ));
    }
    let mut components = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let at = format!("packages[{i}]");
        if !p.is_object() {
            return Err(format!("{at}: not an object"));
        }
        let name = field(p, "name", &at)?.ok_or_else(|| format!("{at}.name: missing"))?;
        let version = field(p, "versionInfo", &at)?.unwrap_or_default();
        let mut purl = None;
        if let Some(refs) = p.get("externalRefs") {
            let refs = refs
                .as_array()
                .ok_or_else(|| format!("{at}.externalRefs: not an array"))?;
            for (j, r) in refs.iter().enumerate() {
                let rat = format!("{at}.externalRefs[{j}]");
                if field(r, "referenceType", &rat)?.as_deref() == Some("purl") {
                    purl = Some(
                        field(r, "referenceLocator", &rat)?
                            .ok_or_else(|| format!("{rat}.referenceLocator: missing"))?,
                    );
                }
            }
        }
        components.push(make(name, version, purl));
    }
    Ok(Sbom {
        format: "SPDX 2.3".into(),
        components,
        statements: Vec::new(),
    })
}

/// The VEX statements of a CycloneDX document's `vulnerabilities`. An
/// `affects[].ref` names its product by package URL, directly or through
/// a component's `bom-ref`; a ref that names neither matches nothing.
fn cyclonedx_vex(
    v: &Value,
    refs: &std::collections::HashMap<String, String>,
) -> Result<Vec<Statement>, String> {
    let Some(list) = v.get("vulnerabilities") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or("vulnerabilities: not an array")?;
    if list.len() > MAX_STATEMENTS {
        return Err(format!(
            "vulnerabilities: more than {MAX_STATEMENTS} are not accepted"
        ));
    }
    let mut out = Vec::new();
    for (i, x) in list.iter().enumerate() {
        let at = format!("vulnerabilities[{i}]");
        let Some(state) = x.pointer("/analysis/state") else {
            continue;
        };
        let state = state
            .as_str()
            .ok_or_else(|| format!("{at}.analysis.state: not a string"))?;
        let id = field(x, "id", &at)?.ok_or_else(|| format!("{at}.id: missing"))?;
        let mut products = Vec::new();
        for (j, a) in x
            .get("affects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(r) = field(a, "ref", &format!("{at}.affects[{j}]"))? {
                products.push(Some(refs.get(&r).cloned().unwrap_or(r)));
            }
        }
        if products.is_empty() {
            products.push(None);
        }
        for product in products {
            out.push(Statement {
                vulnerability: id.clone(),
                product,
                state: state.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Reads a VEX document: CycloneDX (a BOM with `vulnerabilities`) or
/// OpenVEX (`@context` of openvex.dev, `statements`).
pub fn parse_vex(body: &[u8]) -> Result<Vec<Statement>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not a JSON document: {e}"))?;
    if v.get("bomFormat").is_some() {
        if v["bomFormat"] != "CycloneDX" {
            return Err("bomFormat: not \"CycloneDX\"".into());
        }
        if v.get("vulnerabilities").is_none() {
            return Err("vulnerabilities: missing; a CycloneDX VEX lists them".into());
        }
        return cyclonedx_vex(&v, &std::collections::HashMap::new());
    }
    let is_openvex = v
        .get("@context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("https://openvex.dev/ns"));
    if !is_openvex {
        return Err(
            "neither CycloneDX VEX (\"bomFormat\") nor OpenVEX (\"@context\": \"https://openvex.dev/ns…\")"
                .into(),
        );
    }
    let list = v
        .get("statements")
        .and_then(Value::as_array)
        .ok_or("statements: missing or not an array")?;
    if list.len() > MAX_STATEMENTS {
        return Err(format!(
            "statements: more than {MAX_STATEMENTS} are not accepted"
        ));
    }
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let at = format!("statements[{i}]");
        let vuln = s
            .get("vulnerability")
            .ok_or(format!("{at}.vulnerability: missing"))?;
        let id = match vuln {
            Value::String(x) => Some(x.clone()),
            Value::Object(_) => field(vuln, "name", &format!("{at}.vulnerability"))?,
            _ => None,
        }
        .ok_or_else(|| format!("{at}.vulnerability: neither a string nor {{\"name\"}}"))?;
        let state = field(s, "status", &at)?.ok_or_else(|| format!("{at}.status: missing"))?;
        let mut products = Vec::new();
        for (j, p) in s
            .get("products")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let pat = format!("{at}.products[{j}]");
            let id = match p {
                Value::String(x) => Some(x.clone()),
                _ => field(p, "@id", &pat)?,
            };
            if let Some(id) = id.filter(|x| x.starts_with("pkg:")) {
                products.push(Some(id));
            }
        }
        if products.is_empty() {
            products.push(None);
        }
        for product in products {
            out.push(Statement {
                vulnerability: id.clone(),
                product,
                state: state.clone(),
            });
        }
    }
    Ok(out)
}

/// Whether a statement among `statements` suppresses `id` (or one of its
/// `aliases`) for a component with package URL `purl`.
pub fn suppressed(
    statements: &[Statement],
    id: &str,
    aliases: &[String],
    purl: Option<&str>,
) -> bool {
    statements.iter().any(|s| {
        s.suppresses()
            && (s.vulnerability == id || aliases.contains(&s.vulnerability))
            && match (&s.product, purl) {
                (None, _) => true,
                (Some(p), Some(c)) => p == c || (purl_base(p) == p && purl_base(c) == p),
                (Some(_), None) => false,
            }
    })
}

/// A package URL without version, qualifiers or subpath.
pub fn purl_base(p: &str) -> &str {
    let end = p.find(['?', '#']).unwrap_or(p.len());
    let p = &p[..end];
    match p.rfind('@') {
        // `pkg:npm/%40scope/x@1` has its version after the last `@`; a
        // literal `@scope` sits right after a `/`.
        Some(i) if !p[..i].ends_with('/') && i > 0 => &p[..i],
        _ => p,
    }
}

/// What a package URL tells about a package.
#[derive(Debug, PartialEq, Eq)]
pub struct Purl {
    pub ecosystem: Option<String>,
    pub name: String,
    pub version: String,
}

/// `pkg:pypi/Django@4.2` → PyPI, `django`, `4.2`.
pub fn parse_purl(p: &str) -> Option<Purl> {
    let rest = p.strip_prefix("pkg:")?;
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let (path, version) = match rest.rfind('@') {
        Some(i) if i > 0 && !rest[..i].ends_with('/') => (&rest[..i], decode(&rest[i + 1..])),
        _ => (rest, String::new()),
    };
    let (ty, path) = path.split_once('/')?;
    let segs: Vec<String> = path.split('/').map(decode).collect();
    let (n, ns) = segs.split_last()?;
    let (ns, name) = (ns.join("/"), n.clone());
    let ty = ty.to_ascii_lowercase();
    let ecosystem = match ty.as_str() {
        "pypi" => "PyPI",
        "npm" => "npm",
        "cargo" => "crates.io",
        "golang" => "Go",
        "maven" => "Maven",
        "gem" => "RubyGems",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        "hex" => "Hex",
        "pub" => "Pub",
        _ => "",
    };
    let full = match ecosystem {
        "npm" | "Go" | "Packagist" if !ns.is_empty() => format!("{ns}/{name}"),
        "Maven" if !ns.is_empty() => format!("{ns}:{name}"),
        _ => name,
    };
    let ecosystem = (!ecosystem.is_empty()).then(|| ecosystem.to_owned());
    let name = match &ecosystem {
        Some(e) => package_name(e, &full),
        None => full,
    };
    Some(Purl {
        ecosystem,
        name,
        version,
    })
}

/// A package name as compared in `ecosystem`: PyPI's normalized (PEP 503),
/// others as written.
pub fn package_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        let mut out = String::with_capacity(name.len());
        let mut sep = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                sep = true;
            } else {
                if sep && !out.is_empty() {
                    out.push('-');
                }
                sep = false;
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    } else {
        name.to_owned()
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(x) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_name_the_osv_package() {
        let p = parse_purl("pkg:pypi/Flask_Login@0.6.3").unwrap();
        assert_eq!(
            (p.ecosystem.as_deref(), p.name.as_str(), p.version.as_str()),
            (Some("PyPI"), "flask-login", "0.6.3")
        );
        let p = parse_purl("pkg:npm/%40babel/core@7.0.0?x=y").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("@babel/core", "7.0.0")
        );
        assert_eq!(
            purl_base("pkg:npm/%40babel/core@7.0.0?x=y"),
            "pkg:npm/%40babel/core"
        );
        let p = parse_purl("pkg:maven/org.apache/log4j-core@2.14.1").unwrap();
        assert_eq!(p.name, "org.apache:log4j-core");
        assert!(parse_purl("npm/x@1").is_none());
    }

    #[test]
    fn bad_documents_say_where() {
        let e = parse(br#"{"bomFormat": "CycloneDX", "specVersion": "1.3"}"#).unwrap_err();
        assert!(e.starts_with("specVersion"), "{e}");
        let e = parse(
            br#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a"}, {"version": "1"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, "components[1].name: missing");
        let e = parse(br#"{"spdxVersion": "SPDX-2.2"}"#).unwrap_err();
        assert!(e.starts_with("spdxVersion"), "{e}");
        assert!(parse(b"{}").unwrap_err().contains("neither"));
    }
}
