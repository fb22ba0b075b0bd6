//! What each person sets in the console, kept on the server (never in the
//! browser's storage): the theme (follow the system, light or dark), the
//! density, and named saved views of the alert queue and saved searches.
//! One JSON file in the data directory, `console-prefs.json`, replaced
//! whole on each change (written privately, synced, renamed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::access::Principal;

/// The file in the data directory.
pub const FILE: &str = "console-prefs.json";
/// Most saved views (or saved searches) one person keeps.
pub const MAX_SAVED: usize = 50;
/// Longest name of a saved view or search.
pub const MAX_NAME: usize = 80;
/// Longest query string of a saved view or search.
pub const MAX_QUERY: usize = 4096;
/// Most people with settings.
const MAX_PEOPLE: usize = 100_000;

/// One person's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserPrefs {
    /// `system`, `light` or `dark`.
    pub theme: String,
    /// `comfortable` or `compact`.
    pub density: String,
    /// Saved views of the queue: name and query string (`status=open&…`).
    pub views: Vec<Saved>,
    /// Saved searches: name and query string (`q=…&since=…`).
    pub searches: Vec<Saved>,
}

/// A named query string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Saved {
    pub name: String,
    pub query: String,
}

impl UserPrefs {
    pub fn theme(&self) -> &'static str {
        match self.theme.as_str() {
            "light" => "light",
            "dark" => "dark",
            _ => "system",
        }
    }

    pub fn density(&self) -> &'static str {
        if self.density == "compact" {
            "compact"
        } else {
            "comfortable"
        }
    }
}

/// The settings of everyone, and where they are kept.
pub struct Prefs {
    path: Option<PathBuf>,
    all: Mutex<BTreeMap<String, UserPrefs>>,
}

/// Whose settings: the kind of credential and its name (a person's
/// session, or an API key).
fn key(p: &Principal) -> String {
    format!("{}:{}", p.kind, p.name)
}

impl Prefs {
    /// Reads `<data_dir>/console-prefs.json` (absent: nobody set anything).
    pub fn open(data_dir: &std::path::Path) -> anyhow::Result<Arc<Prefs>> {
        use anyhow::Context as _;
        let path = data_dir.join(FILE);
        let all = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{} is not valid console settings", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Arc::new(Prefs {
            path: Some(path),
            all: Mutex::new(all),
        }))
    }

    /// Settings kept in memory only (tests).
    pub fn in_memory() -> Arc<Prefs> {
        Arc::new(Prefs {
            path: None,
            all: Mutex::default(),
        })
    }

    pub fn get(&self, p: &Principal) -> UserPrefs {
        self.all.lock().get(&key(p)).cloned().unwrap_or_default()
    }

    /// Changes one person's settings and writes the file; on a write
    /// failure nothing changes.
    pub fn update(
        &self,
        p: &Principal,
        change: impl FnOnce(&mut UserPrefs) -> Result<(), String>,
    ) -> Result<UserPrefs, String> {
        let mut all = self.all.lock();
        let k = key(p);
        if !all.contains_key(&k) && all.len() >= MAX_PEOPLE {
            return Err("too many people have console settings".into());
        }
        let mut mine = all.get(&k).cloned().unwrap_or_default();
        change(&mut mine)?;
        let before = all.insert(k.clone(), mine.clone());
        if let Some(path) = &self.path {
            let written = serde_json::to_vec_pretty(&*all)
                .map_err(anyhow::Error::from)
                .and_then(|b| {
                    let dir = path.parent().unwrap_or(std::path::Path::new("."));
                    crate::access::replace_file(dir, FILE, &b)
                });
            if let Err(e) = written {
                tracing::error!(error = %e, "console settings could not be written");
                match before {
                    Some(b) => all.insert(k, b),
                    None => all.remove(&k),
                };
                return Err("the settings could not be saved".into());
            }
        }
        Ok(mine)
    }
}

/// Checks a name and query string to save, and adds or replaces it by
/// name.
pub fn save(list: &mut Vec<Saved>, name: &str, query: &str) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a name is required".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("the name is longer than {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("the name holds control characters".into());
    }
    if query.len() > MAX_QUERY {
        return Err(format!("the query is longer than {MAX_QUERY} bytes"));
    }
    if let Some(s) = list.iter_mut().find(|s| s.name == name) {
        s.query = query.to_owned();
        return Ok(());
    }
    if list.len() >= MAX_SAVED {
        return Err(format!(
            "at most {MAX_SAVED} can be saved; delete one first"
        ));
    }
    list.push(Saved {
        name: name.to_owned(),
        query: query.to_owned(),
    });
    Ok(())
}

/// `POST /console/prefs` (`theme`: `system`, `light` or `dark`;
/// `density`: `comfortable` or `compact`; either or both): 204, or 400
/// naming the bad field.
pub async fn set(
    axum::extract::State(st): axum::extract::State<super::ConsoleState>,
    caller: crate::access::Caller,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    let mut theme = None;
    let mut density = None;
    let mut error = String::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match (k.as_ref(), v.as_ref()) {
            ("theme", "system" | "light" | "dark") if theme.is_none() => {
                theme = Some(v.into_owned())
            }
            ("density", "comfortable" | "compact") if density.is_none() => {
                density = Some(v.into_owned())
            }
            ("theme", _) => error = "theme must be system, light or dark, once".into(),
            ("density", _) => error = "density must be comfortable or compact, once".into(),
            (other, _) => {
                error = format!(
                    "unexpected form field {:?} (expected theme, density)",
                    other.chars().take(40).collect::<String>()
                )
            }
        }
    }
    if error.is_empty() && body.len() > 1024 {
        error = "the form is larger than 1 KiB".into();
    }
    if error.is_empty() {
        let changed = st.prefs.update(&caller, |u| {
            if let Some(t) = theme {
                u.theme = t;
            }
            if let Some(d) = density {
                u.density = d;
            }
            Ok(())
        });
        match changed {
            Ok(_) => return super::secure(StatusCode::NO_CONTENT.into_response()),
            Err(e) => {
                return super::secure((StatusCode::INTERNAL_SERVER_ERROR, e).into_response());
            }
        }
    }
    super::secure((StatusCode::BAD_REQUEST, error).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_views_are_named_bounded_and_replaced_by_name() {
        let mut l = Vec::new();
        save(&mut l, "mine", "status=open").unwrap();
        save(&mut l, " mine ", "status=resolved").unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].query, "status=resolved");
        assert!(save(&mut l, "", "x").unwrap_err().contains("name"));
        assert!(save(&mut l, "a\u{7}", "x").is_err());
        assert!(save(&mut l, &"n".repeat(MAX_NAME + 1), "x").is_err());
        assert!(save(&mut l, "big", &"q".repeat(MAX_QUERY + 1)).is_err());
        for i in 1..MAX_SAVED {
            save(&mut l, &format!("v{i}"), "").unwrap();
        }
        assert!(
            save(&mut l, "one more", "")
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn settings_survive_a_restart_and_stay_apart_per_person() {
        let dir = tempfile::tempdir().unwrap();
        let who = |name: &str| Principal {
            kind: "session",
            id: "s".into(),
            name: name.into(),
            role: "analyst".into(),
            tenant: "default".into(),
            perms: crate::access::permission::PermSet::of(&[]),
            recognizer: None,
        };
        let p = Prefs::open(dir.path()).unwrap();
        p.update(&who("alice"), |u| {
            u.theme = "dark".into();
            Ok(())
        })
        .unwrap();
        let again = Prefs::open(dir.path()).unwrap();
        assert_eq!(again.get(&who("alice")).theme(), "dark");
        assert_eq!(again.get(&who("bob")).theme(), "system");
    }
}
