//! AI events (Ward's extension of ECS, family `ai`): the shapes AI tools and
//! their loggers send, and the OpenTelemetry GenAI semantic conventions
//! (`gen_ai.*`), mapped onto one set of fields:
//!
//! | field | from |
//! |---|---|
//! | `ai.tool.name` | `ai_tool`, `tool`, `assistant`; `gen_ai.agent.name`, else the provider |
//! | `ai.provider.name` | `provider`; `gen_ai.provider.name`, `gen_ai.system` |
//! | `ai.model.name` | `model`, `ai_model`; `gen_ai.response.model`, else `gen_ai.request.model` |
//! | `ai.prompt.text` | `prompt`; `gen_ai.input.messages`, `gen_ai.prompt`, `gen_ai.system_instructions` (text parts joined) |
//! | `ai.response.text` | `response`, `completion`; `gen_ai.output.messages`, `gen_ai.completion` |
//! | `ai.context.files` | `context_files`, `files` (array; a comma list is split) |
//! | `ai.code.generated` | `generated_code`, `code_generated` |
//! | `code.origin` | `code_origin`, `origin`, `ai_generated` (bool); `ai` when code was generated |
//! | `repository.name`, `repository.sensitivity` | `repository`, `repo`, `repo_sensitivity`, `sensitivity` |
//! | `ai.config.change.before/after`, `ai.config.setting` | `before`/`after`, `old_value`/`new_value`, `changes{before,after}`, `setting` |
//! | `ai.usage.input_tokens/output_tokens` | `input_tokens`, `prompt_tokens`; `gen_ai.usage.*` |
//! | `ai.function.name`, `ai.function.call_id` | `gen_ai.tool.name`, `gen_ai.tool.call.id` (a function the model called) |
//! | `ai.conversation.id` | `gen_ai.conversation.id` |
//! | `event.action` | `gen_ai.operation.name` when no action was given |
//!
//! Keys unique to AI events are mapped on any event; generic ones (`tool`,
//! `model`, `files`, `before`, ...) only on events already in the AI family.
//! Prompt and response content is moved, not copied, so that it exists once
//! for redaction.

use super::fields::{merge_insert, push_unique};
use crate::event::Event;
use serde_json::Value;

/// Keys that mark an event as AI wherever they appear.
fn unique(key: &str) -> Option<&'static str> {
    Some(match key {
        "ai_tool" | "ai_tool_name" | "aiTool" => "ai.tool.name",
        "ai_model" | "aiModel" => "ai.model.name",
        "ai_provider" => "ai.provider.name",
        "prompt" | "prompt_text" | "ai_prompt" => "ai.prompt.text",
        "context_files" | "contextFiles" | "files_in_context" => "ai.context.files",
        "generated_code" | "code_generated" | "ai_generated_code" => "ai.code.generated",
        "code_origin" | "codeOrigin" | "ai_generated" => "code.origin",
        "repository_sensitivity" | "repo_sensitivity" => "repository.sensitivity",
        "prompt_tokens" => "ai.usage.input_tokens",
        "completion_tokens" => "ai.usage.output_tokens",
        _ => return None,
    })
}

/// Keys mapped only on AI events.
fn generic(key: &str) -> Option<&'static str> {
    Some(match key {
        "tool" | "tool_name" | "toolName" | "assistant" => "ai.tool.name",
        "provider" => "ai.provider.name",
        "model" | "model_name" | "modelName" => "ai.model.name",
        "files" => "ai.context.files",
        "response" | "response_text" | "completion" => "ai.response.text",
        "origin" => "code.origin",
        "repository" | "repository_name" | "repo" | "repo_name" => "repository.name",
        "sensitivity" => "repository.sensitivity",
        "before" | "old_value" | "previous" => "ai.config.change.before",
        "after" | "new_value" => "ai.config.change.after",
        "setting" | "config_key" => "ai.config.setting",
        "input_tokens" => "ai.usage.input_tokens",
        "output_tokens" => "ai.usage.output_tokens",
        _ => return None,
    })
}

/// Maps AI fields in place; a no-op on other events.
pub(super) fn normalize(event: &mut Event) {
    let mut is_ai =
        event.0.contains_key("gen_ai") || event.0.contains_key("ai") || has_ai_category(event);
    let mut moves: Vec<(String, &'static str)> = Vec::new();
    for key in event.0.keys() {
        if let Some(path) = unique(key) {
            moves.push((key.clone(), path));
            is_ai = true;
        }
    }
    if !is_ai {
        return;
    }
    for key in event.0.keys() {
        if let Some(path) = generic(key) {
            moves.push((key.clone(), path));
        }
    }
    // Take every source value out first: a flat key (`repository`) may share
    // its name with the object that receives another one's value.
    let taken: Vec<(String, &'static str, Value)> = moves
        .into_iter()
        .filter_map(|(key, path)| event.0.remove(&key).map(|v| (key, path, v)))
        .collect();
    for (key, path, value) in taken {
        if value.is_object() && !path.starts_with("ai.config.change") {
            merge_insert(&mut event.0, key, value);
            continue;
        }
        if event.peek(path).is_some() {
            merge_insert(&mut event.0, key, value);
            continue;
        }
        let value = match (key.as_str(), path) {
            ("ai_generated", _) => Value::from(match value {
                Value::Bool(false) => "human",
                _ => "ai",
            }),
            (_, "code.origin") => match value.as_str().map(str::to_ascii_lowercase) {
                Some(s) if s == "ai" || s == "human" => Value::String(s),
                _ => value,
            },
            (_, "ai.context.files") => files(value),
            _ => value,
        };
        event.set(path, value);
    }
    if let Some(Value::Object(changes)) = event.remove("changes") {
        let mut changes = changes;
        for (from, to) in [
            ("before", "ai.config.change.before"),
            ("after", "ai.config.change.after"),
        ] {
            if let Some(v) = changes.remove(from)
                && event.peek(to).is_none()
            {
                event.set(to, v);
            }
        }
        if !changes.is_empty() {
            event.set("changes", Value::Object(changes));
        }
    }
    gen_ai(event);
    if event.peek("ai.code.generated").is_some() && event.peek("code.origin").is_none() {
        event.set("code.origin", Value::from("ai"));
    }
    if event.peek("event.category").is_none() {
        push_unique(event, "event.category", "ai");
    }
}

fn has_ai_category(event: &Event) -> bool {
    match event.peek("event.category") {
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some("ai")),
        Some(Value::String(s)) => s == "ai",
        _ => false,
    }
}

fn files(value: Value) -> Value {
    match value {
        Value::String(s) => Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(Value::from)
                .collect(),
        ),
        Value::Array(_) => value,
        other => Value::Array(vec![other]),
    }
}

/// OpenTelemetry GenAI attributes under `gen_ai`.
fn gen_ai(event: &mut Event) {
    if !event.0.contains_key("gen_ai") {
        return;
    }
    let copy = |event: &mut Event, from: &[&str], to: &str| {
        if event.peek(to).is_some() {
            return;
        }
        if let Some(v) = from.iter().find_map(|f| event.peek(f)).cloned() {
            event.set(to, v);
        }
    };
    copy(
        event,
        &["gen_ai.provider.name", "gen_ai.system"],
        "ai.provider.name",
    );
    copy(
        event,
        &["gen_ai.agent.name", "gen_ai.provider.name", "gen_ai.system"],
        "ai.tool.name",
    );
    copy(
        event,
        &["gen_ai.response.model", "gen_ai.request.model"],
        "ai.model.name",
    );
    copy(event, &["gen_ai.operation.name"], "event.action");
    copy(
        event,
        &["gen_ai.usage.input_tokens"],
        "ai.usage.input_tokens",
    );
    copy(
        event,
        &["gen_ai.usage.output_tokens"],
        "ai.usage.output_tokens",
    );
    copy(event, &["gen_ai.tool.name"], "ai.function.name");
    copy(event, &["gen_ai.tool.call.id"], "ai.function.call_id");
    copy(event, &["gen_ai.conversation.id"], "ai.conversation.id");
    move_text(
        event,
        &[
            "gen_ai.input.messages",
            "gen_ai.prompt",
            "gen_ai.system_instructions",
        ],
        "ai.prompt.text",
    );
    move_text(
        event,
        &["gen_ai.output.messages", "gen_ai.completion"],
        "ai.response.text",
    );
    move_text(
        event,
        &["gen_ai.tool.call.arguments"],
        "ai.function.arguments",
    );
    move_text(event, &["gen_ai.tool.call.result"], "ai.function.result");
}

/// Moves message content to one text field, joining text parts.
fn move_text(event: &mut Event, from: &[&str], to: &str) {
    let mut texts = Vec::new();
    for path in from {
        if let Some(v) = event.remove(path) {
            texts.push(message_text(v));
        }
    }
    if texts.is_empty() {
        return;
    }
    if event.peek(to).is_some() {
        return;
    }
    event.set(to, Value::String(texts.join("\n")));
}

/// The text of a GenAI message value: a JSON-encoded string is decoded;
/// messages are `{role, content}` or `{role, parts: [{type, content}]}`.
pub(crate) fn message_text(v: Value) -> String {
    match v {
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('[') || t.starts_with('{'))
                && let Ok(parsed) = serde_json::from_str::<Value>(&s)
            {
                return message_text(parsed);
            }
            s
        }
        Value::Array(items) => items
            .into_iter()
            .map(message_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(mut m) => {
            if let Some(parts) = m.remove("parts") {
                return message_text(parts);
            }
            for key in ["content", "text", "message", "result", "arguments"] {
                if let Some(c) = m.remove(key) {
                    return message_text(c);
                }
            }
            Value::Object(m).to_string()
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
