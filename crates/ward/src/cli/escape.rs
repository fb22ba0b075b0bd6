//! Text from events, comments and labels made safe for a terminal: C0 and
//! C1 control characters, DEL, and the Unicode bidirectional overrides and
//! isolates (which reorder what is shown, "Trojan Source") are written as
//! visible escapes, so a crafted log line cannot clear the screen, move the
//! cursor or forge table rows.

use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `s` with every unsafe character escaped (`\n`, `\t`, `\u{1b}`…).
pub fn cell(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(cell("plain – ünïcode"), "plain – ünïcode");
        assert_eq!(cell("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(cell("row\nforged"), "row\\nforged");
        assert_eq!(cell("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(cell("evil\u{202E}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(cell("\u{2066}i\u{2069}\x7f"), "\\u{2066}i\\u{2069}\\u{7f}");
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let s = char::from_u32(c).unwrap().to_string();
            assert!(!cell(&s).chars().any(is_unsafe), "{c:#x}");
        }
    }

    #[test]
    fn tables_and_alert_details_escape_what_events_and_people_wrote() {
        let evil = "ok\u{1b}[2J\u{1b}[H\nFORGED ROW\u{202e}";
        let search = serde_json::json!({"hits": [{"event": {"@timestamp": "t", "message": evil}}]});
        let alert = serde_json::json!({
            "id": "a1", "rule_title": evil, "status": "open", "description": evil,
            "history": [{"at": "t", "action": "acknowledged", "actor": evil}],
            "comments": [{"author": evil, "at": "t", "text": evil}],
        });
        let alerts = serde_json::json!({"alerts": [alert.clone()]});
        let silences = serde_json::json!({"silences": [{"id": "s", "comment": evil, "created_by": evil, "matchers": []}]});
        for out in [
            super::super::search::table(&search),
            super::super::alerts::alert_detail(&alert),
            super::super::alerts::alerts_table(&alerts),
            super::super::alerts::silences_table(&silences),
        ] {
            assert!(!out.chars().any(|c| c != '\n' && is_unsafe(c)), "{out:?}");
            assert!(!out.lines().any(|l| l.starts_with("FORGED")), "{out}");
        }
    }
}
