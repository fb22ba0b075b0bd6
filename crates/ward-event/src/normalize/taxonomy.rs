//! The five families of security events and how an action string
//! (`login_failed`, `user.login`, `auth.mfa_challenge`, `role_assigned`,
//! `file_export`, `config_change`, `service_stop`, `ai.prompt`, ...) is
//! placed in them.
//!
//! An action is split into words at `.`, `_`, `-`, `:`, `/`, spaces and
//! camelCase humps. Each word may name a family; when words name several,
//! the most specific family wins in the order AI, authentication,
//! authorization, data, system (so `ai_config_change` is an AI event and
//! `file_permission_change` an authorization one). Words also give the ECS
//! `event.type` and, for words like `failed` or `succeeded`, the outcome.

use super::vocab::Outcome;

/// A family of the taxonomy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Ai,
    Authentication,
    Authorization,
    Data,
    System,
}

/// What an action string says about its event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Classification {
    pub categories: Vec<&'static str>,
    pub types: Vec<&'static str>,
    pub outcome: Option<Outcome>,
    /// read, modify, delete or export, for data events.
    pub data_operation: Option<&'static str>,
}

/// The `event.category` a family word names, for senders that put the
/// family itself in `event_type` or `category`.
pub(crate) fn category_of_word(word: &str) -> Option<&'static str> {
    let mut buf = [0u8; 16];
    let lower = super::vocab::lowercase(word.trim(), &mut buf)?;
    Some(match lower {
        "authentication" | "auth" | "authn" => "authentication",
        "session" => "session",
        "authorization" | "authz" | "iam" | "access" => "iam",
        "data" | "database" | "db" => "database",
        "file" => "file",
        "system" | "host" => "host",
        "configuration" | "config" => "configuration",
        "process" => "process",
        "network" => "network",
        "web" => "web",
        "ai" | "genai" | "gen_ai" | "llm" => "ai",
        "malware" => "malware",
        "intrusion_detection" => "intrusion_detection",
        "package" => "package",
        "vulnerability" => "vulnerability",
        "threat" => "threat",
        "api" => "api",
        "driver" => "driver",
        "email" => "email",
        "registry" => "registry",
        _ => return None,
    })
}

/// The values ECS allows in `event.type`.
pub(crate) fn is_ecs_type(word: &str) -> bool {
    matches!(
        word,
        "access"
            | "admin"
            | "allowed"
            | "change"
            | "connection"
            | "creation"
            | "deletion"
            | "denied"
            | "end"
            | "error"
            | "group"
            | "indicator"
            | "info"
            | "installation"
            | "protocol"
            | "start"
            | "user"
    )
}

/// Classifies an action or event-type string.
pub(crate) fn classify(action: &str) -> Classification {
    let mut family: Option<Family> = None;
    let mut weak: Option<Family> = None;
    let mut session = false;
    let mut file = false;
    let mut process = false;
    let mut configuration = false;
    let mut out = Classification::default();
    let push_type = |types: &mut Vec<&'static str>, t: &'static str| {
        if !types.contains(&t) {
            types.push(t);
        }
    };
    for word in words(action) {
        let mut buf = [0u8; 16];
        let Some(w) = super::vocab::lowercase(word, &mut buf) else {
            continue;
        };
        let strong = match w {
            "ai" | "genai" | "llm" | "prompt" | "prompts" | "copilot" | "chatgpt"
            | "completion" | "inference" | "embeddings" | "agent" => Some(Family::Ai),
            "login" | "logon" | "signin" | "logout" | "logoff" | "signout" | "mfa" | "2fa"
            | "otp" | "totp" | "password" | "passwd" | "auth" | "authn" | "authentication"
            | "authenticate" | "authenticated" | "sso" | "saml" | "oauth" | "token"
            | "credential" | "credentials" | "kerberos" | "passkey" | "webauthn" => {
                Some(Family::Authentication)
            }
            "session" | "sessions" => {
                session = true;
                Some(Family::Authentication)
            }
            "role" | "roles" | "privilege" | "privileges" | "permission" | "permissions"
            | "grant" | "revoke" | "authorization" | "authorize" | "authz" | "acl" | "policy"
            | "escalation" | "sudo" | "iam" | "entitlement" | "membership" => {
                Some(Family::Authorization)
            }
            "file" | "files" | "document" | "upload" | "download" | "attachment" | "bucket"
            | "blob" => {
                file = true;
                Some(Family::Data)
            }
            "data" | "database" | "db" | "sql" | "query" | "record" | "records" | "table"
            | "export" | "pii" | "customer" | "dataset" | "exfiltration" | "dump" => {
                Some(Family::Data)
            }
            "config" | "configuration" | "setting" | "settings" | "cfg" | "parameter" => {
                configuration = true;
                Some(Family::System)
            }
            "service" | "process" | "daemon" | "restart" | "exec" | "crash" | "job" => {
                process = true;
                Some(Family::System)
            }
            "host" | "server" | "disk" | "memory" | "cpu" | "resource" | "resources"
            | "exhaustion" | "exhausted" | "quota" | "oom" | "reboot" | "shutdown" | "kernel" => {
                Some(Family::System)
            }
            _ => None,
        };
        if let Some(f) = strong {
            family = Some(family.map_or(f, |g| g.min(f)));
        }
        let weak_family = match w {
            "access" | "user" | "group" | "account" | "granted" | "denied" => {
                Some(Family::Authorization)
            }
            "read" | "delete" | "modify" | "write" => Some(Family::Data),
            "error" | "start" | "stop" | "started" | "stopped" => {
                process = process || w.starts_with("st");
                Some(Family::System)
            }
            _ => None,
        };
        if weak.is_none() {
            weak = weak_family;
        }
        let ty = match w {
            "login" | "logon" | "signin" | "start" | "started" | "starting" | "boot" => {
                Some("start")
            }
            "logout" | "logoff" | "signout" | "stop" | "stopped" | "shutdown" | "end" | "ended"
            | "expired" => Some("end"),
            "create" | "created" | "issue" | "issued" | "add" | "added" | "new" | "generate"
            | "generated" | "register" | "registered" => Some("creation"),
            "delete" | "deleted" | "remove" | "removed" | "destroy" | "destroyed" | "revoke"
            | "revoked" | "purge" | "purged" | "drop" | "dropped" => Some("deletion"),
            "change" | "changed" | "modify" | "modified" | "update" | "updated" | "assign"
            | "assigned" | "edit" | "edited" | "set" | "reset" | "write" => Some("change"),
            "denied" | "deny" | "blocked" | "rejected" | "forbidden" => Some("denied"),
            "granted" | "allowed" | "allow" | "approved" => Some("allowed"),
            "read" | "access" | "accessed" | "view" | "viewed" | "export" | "exported"
            | "download" | "downloaded" | "query" | "select" | "fetch" => Some("access"),
            "error" | "crash" | "crashed" | "exhaustion" | "exhausted" | "oom" => Some("error"),
            _ => None,
        };
        if let Some(t) = ty {
            push_type(&mut out.types, t);
        }
        let outcome = match w {
            "failed" | "failure" | "fail" | "fails" | "denied" | "rejected" | "invalid"
            | "blocked" | "forbidden" | "unauthorized" | "error" | "crash" | "crashed" => {
                Some(Outcome::Failure)
            }
            "success" | "succeeded" | "successful" | "succeed" | "ok" | "granted" | "allowed"
            | "approved" | "passed" => Some(Outcome::Success),
            _ => None,
        };
        if out.outcome.is_none() {
            out.outcome = outcome;
        }
        let op = match w {
            "read" | "view" | "viewed" | "access" | "accessed" | "query" | "select" | "fetch"
            | "download" | "downloaded" | "get" => Some("read"),
            "modify" | "modified" | "update" | "updated" | "write" | "edit" | "edited"
            | "insert" | "change" | "changed" | "upload" | "uploaded" => Some("modify"),
            "delete" | "deleted" | "remove" | "removed" | "purge" | "purged" | "drop" | "erase" => {
                Some("delete")
            }
            "export" | "exported" | "dump" | "exfiltration" | "extract" | "bulk" => Some("export"),
            _ => None,
        };
        if op.is_some() && (out.data_operation.is_none() || op == Some("export")) {
            out.data_operation = op;
        }
    }
    let Some(family) = family.or(weak) else {
        out.data_operation = None;
        return out;
    };
    out.categories = match family {
        Family::Ai => vec!["ai"],
        Family::Authentication if session => vec!["session"],
        Family::Authentication => vec!["authentication"],
        Family::Authorization => vec!["iam"],
        Family::Data if file => vec!["file"],
        Family::Data => vec!["database"],
        Family::System if configuration => vec!["configuration"],
        Family::System if process => vec!["process"],
        Family::System => vec!["host"],
    };
    if family != Family::Data {
        out.data_operation = None;
    }
    out
}

/// Splits an action string into words (see the module documentation).
fn words(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        while pos < bytes.len() && !bytes[pos].is_ascii_alphanumeric() {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        pos += 1;
        while pos < bytes.len() && bytes[pos].is_ascii_alphanumeric() {
            // A lower-case letter followed by a capital starts a new word.
            if bytes[pos].is_ascii_uppercase() && bytes[pos - 1].is_ascii_lowercase() {
                break;
            }
            pos += 1;
        }
        s.get(start..pos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(s: &str) -> Vec<&'static str> {
        classify(s).categories
    }

    #[test]
    fn brief_examples() {
        assert_eq!(cat("login_failed"), ["authentication"]);
        assert_eq!(classify("login_failed").outcome, Some(Outcome::Failure));
        assert_eq!(classify("login_failed").types, ["start"]);
        assert_eq!(cat("user.login"), ["authentication"]);
        assert_eq!(cat("auth.mfa_challenge"), ["authentication"]);
        assert_eq!(cat("session_created"), ["session"]);
        assert_eq!(cat("role_assigned"), ["iam"]);
        assert_eq!(classify("role_assigned").types, ["change"]);
        assert_eq!(cat("privilege_change"), ["iam"]);
        assert_eq!(cat("access_denied"), ["iam"]);
        assert_eq!(classify("access_denied").outcome, Some(Outcome::Failure));
        assert_eq!(cat("file_export"), ["file"]);
        assert_eq!(classify("file_export").data_operation, Some("export"));
        assert_eq!(cat("customer_record_delete"), ["database"]);
        assert_eq!(
            classify("customer_record_delete").data_operation,
            Some("delete")
        );
        assert_eq!(cat("config_change"), ["configuration"]);
        assert_eq!(cat("service_stop"), ["process"]);
        assert_eq!(classify("service_stop").types, ["end"]);
        assert_eq!(cat("disk_exhaustion"), ["host"]);
        assert_eq!(cat("ai.prompt"), ["ai"]);
        assert_eq!(cat("ai_tool_invocation"), ["ai"]);
        assert_eq!(cat("aiConfigChange"), ["ai"]);
        assert_eq!(cat("TokenIssued"), ["authentication"]);
        assert_eq!(classify("TokenIssued").types, ["creation"]);
    }

    #[test]
    fn unknown_actions_have_no_category() {
        assert!(cat("heartbeat").is_empty());
        assert!(cat("").is_empty());
        assert_eq!(classify("ping").data_operation, None);
    }

    #[test]
    fn family_words() {
        assert_eq!(category_of_word("Authentication"), Some("authentication"));
        assert_eq!(category_of_word("authorization"), Some("iam"));
        assert_eq!(category_of_word("data"), Some("database"));
        assert_eq!(category_of_word("AI"), Some("ai"));
        assert_eq!(category_of_word("login_failed"), None);
    }
}
