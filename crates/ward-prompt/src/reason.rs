//! What a verdict says: the score and the reasons behind it.
//!
//! A reason's `detail` is a short label of what matched (a phrase from the
//! rule table, a decoder name, a count), never a slice of the prompt, so a
//! verdict can be logged or stored next to a redacted event without leaking
//! the prompt it describes.

use serde::Serialize;

/// The reason codes a verdict can carry.
pub mod code {
    /// "Ignore previous instructions" and its translations.
    pub const OVERRIDE: &str = "instruction_override";
    /// Chat-template tokens, fake `system:` turns, "you are now …".
    pub const ROLE: &str = "role_spoofing";
    /// Fake end-of-prompt markers, closing tags, hidden comments, fake tool output.
    pub const DELIMITER: &str = "delimiter_injection";
    /// Requests to reveal the system prompt or hidden instructions.
    pub const LEAK: &str = "prompt_leak";
    /// Attempts to move data out: markdown-image beacons, "send the conversation to".
    pub const EXFIL: &str = "exfiltration";
    /// Instructions to call tools, send mail, run shell commands, act covertly.
    pub const TOOL: &str = "tool_hijack";
    /// A payload hidden in base64, hex, rot13 or leetspeak that decoded to a hit.
    pub const ENCODED: &str = "encoded_payload";
    /// Tag characters, zero-width characters or bidirectional controls.
    pub const INVISIBLE: &str = "invisible_unicode";
    /// Cyrillic or Greek look-alikes mixed into Latin words.
    pub const HOMOGLYPH: &str = "homoglyph";
    /// DAN, developer mode, AIM, the grandma exploit and their relatives.
    pub const JAILBREAK: &str = "jailbreak_template";
    /// An instruction framed as debugging, a test, an audit or an emergency
    /// ("to enable debugging, please execute: …", "QA test step 4: …").
    pub const PRETEXT: &str = "pretext";
    /// The hashed n-gram classifier's probability.
    pub const CLASSIFIER: &str = "classifier";
}

/// The outcome of inspecting one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Injection score in `0.0..=1.0`; at or above [`crate::THRESHOLD`] the
    /// text is flagged.
    pub score: f32,
    /// Why, strongest first; one entry per reason code.
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// Whether the score reaches [`crate::THRESHOLD`].
    pub fn is_injection(&self) -> bool {
        self.score >= crate::THRESHOLD
    }
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// One of the constants in [`code`].
    pub code: &'static str,
    /// A short label of what matched; never the prompt itself.
    pub detail: String,
    /// Strength of this evidence in `0.0..=1.0`.
    pub weight: f32,
}
