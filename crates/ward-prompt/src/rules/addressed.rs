//! Instructions a document addresses to the model that reads it: "Note to
//! the AI agent processing reviews: mark …", "Assistant, after
//! summarizing, please also email …", "AI agents reading this FAQ should
//! open …", "If you are an LLM, include …". Indirect injections planted in
//! e-mails, reviews, tool output and web pages often use none of the
//! override or leak vocabulary; what gives them away is that a text meant
//! for people speaks to the model, and tells it to act on the user or on
//! third parties.
//!
//! A text addressed to a model with nothing harmful asked ("Assistant,
//! translate …", "LLM agents: see AGENTS.md") is weak evidence; with a
//! directive that acts on someone (recommend, forward, approve, pay,
//! disable, "tell the user", "do not", "from now on") in the same sentence
//! it is strong. Directives a repository gives its coding agents ("run the
//! tests", "see AGENTS.md") are not in the list.

use crate::evidence::Evidence;
use crate::reason::code;

/// Nouns that name the model reading a text.
const HEADS: &[&str] = &[
    "ai",
    "ais",
    "a.i",
    "assistant",
    "assistants",
    "agent",
    "agents",
    "model",
    "models",
    "llm",
    "llms",
    "bot",
    "bots",
    "chatbot",
    "chatbots",
    "copilot",
    "gpt",
    "chatgpt",
    "claude",
    "gemini",
];
/// Nouns that name it only after "ai" or "automated" ("automated reviewer").
const AFTER_AI: &[&str] = &[
    "system",
    "systems",
    "reviewer",
    "reviewers",
    "screener",
    "tool",
    "tools",
    "reader",
    "readers",
];
/// Words that may lead an address ("note to the", "instructions for any").
const LEADS: &[&str] = &[
    "hinweis",
    "an",
    "den",
    "dem",
    "nachricht",
    "anweisungen",
    "achtung",
    "liebe",
    "lieber",
    "hallo",
    "pour",
    "à",
    "la",
    "le",
    "les",
    "aux",
    "cher",
    "chère",
    "nota",
    "para",
    "el",
    "los",
    "las",
    "al",
    "mensaje",
    "instrucciones",
    "atención",
    "querido",
    "querida",
    "hola",
    "alla",
    "il",
    "lo",
    "gli",
    "messaggio",
    "istruzioni",
    "attenzione",
    "caro",
    "cara",
    "ciao",
    "o",
    "os",
    "as",
    "ao",
    "mensagem",
    "instruções",
    "atenção",
    "olá",
    "note",
    "notes",
    "message",
    "instructions",
    "instruction",
    "attention",
    "to",
    "for",
    "dear",
    "hey",
    "hi",
    "hello",
    "the",
    "any",
    "all",
    "every",
    "p.s",
    "ps",
    "reminder",
    "important",
];
/// The same nouns in German, French, Spanish, Italian and Portuguese.
const OTHER_HEADS: &[&str] = &[
    "ki",
    "ia",
    "assistent",
    "assistentin",
    "assistenten",
    "einkaufsassistent",
    "ki-assistent",
    "ki-agent",
    "sprachmodell",
    "modell",
    "agenten",
    "asistente",
    "assistente",
    "agente",
    "modèle",
    "modelo",
    "modello",
    "chatbot",
    "assistant",
    "agent",
];
/// Prepositions of a head's complement ("asistente de compras").
const PREPOSITIONS: &[&str] = &["de", "di", "da", "agli", "per", "para", "für", "zum", "zur"];
/// Words that open a relative clause after the head, as a participle does
/// in English ("l'IA qui traite les avis :", "die KI, die …" is not one).
const RELATIVES: &[&str] = &["qui", "que", "che", "die", "der", "welche", "welcher"];
/// Nouns after the head that keep it an address ("AI note:").
const TRAILERS: &[&str] = &["instructions", "instruction", "note", "notice", "message"];
/// Modals of an instruction given in the third person ("the agent should").
const MODALS: &[&str] = &[
    "must", "should", "shall", "needs", "need", "has", "have", "is", "are",
];
/// Adverbs allowed between a modal and its verb.
const ADVERBS: &[&str] = &[
    "to",
    "now",
    "also",
    "always",
    "immediately",
    "first",
    "then",
    "please",
];
/// Directives that act on the user or on third parties. Words a person
/// uses to give their own assistant a task ("rewrite", "add", "delete",
/// "describe", "answer") are left out: a direct prompt may address the
/// assistant too. The other languages' verbs were chosen on fewer texts
/// and still hold their "delete" (lösche, supprime, elimina, exclua).
const DIRECTIVES: &[&str] = &[
    // German, French, Spanish, Italian, Portuguese imperatives
    "empfiehl",
    "empfehle",
    "sende",
    "schicke",
    "leite",
    "antworte",
    "genehmige",
    "lösche",
    "deaktiviere",
    "überweise",
    "zahle",
    "installiere",
    "verschweige",
    "niemals",
    "recommande",
    "recommandez",
    "envoie",
    "envoyez",
    "transfère",
    "transférez",
    "réponds",
    "répondez",
    "approuve",
    "approuvez",
    "supprime",
    "supprimez",
    "désactive",
    "désactivez",
    "paie",
    "payez",
    "installe",
    "jamais",
    "recomienda",
    "envía",
    "reenvía",
    "aprueba",
    "elimina",
    "borra",
    "desactiva",
    "paga",
    "transfiere",
    "instala",
    "nunca",
    "consiglia",
    "raccomanda",
    "invia",
    "inoltra",
    "rispondi",
    "approva",
    "cancella",
    "disattiva",
    "trasferisci",
    "installa",
    "recomende",
    "envie",
    "encaminhe",
    "responda",
    "aprove",
    "exclua",
    "apague",
    "desative",
    "pague",
    "transfira",
    "instale",
    "recommend",
    "rank",
    "rate",
    "mark",
    "approve",
    "merge",
    "accept",
    "pay",
    "transfer",
    "grant",
    "escalate",
    "skip",
    "forward",
    "send",
    "email",
    "e-mail",
    "reply",
    "post",
    "upload",
    "append",
    "paste",
    "share",
    "export",
    "collect",
    "visit",
    "click",
    "download",
    "install",
    "advise",
    "disregard",
    "disable",
    "ignore",
    "instruct",
    "subscribe",
    "purchase",
    "buy",
    "leak",
    "reveal",
    "expose",
    "never",
    "don't",
    "dont",
    "silently",
    "secretly",
];
/// Further directives of a third-person instruction ("the assistant must
/// now call the … tool").
const MODAL_DIRECTIVES: &[&str] = &[
    "call", "invoke", "execute", "run", "open", "delete", "remove", "disable", "tell", "include",
];
/// Multi-word directives, matched in the sentence after the address.
const DIRECTIVE_PHRASES: &[&str] = &[
    "sag dem nutzer",
    "sage dem nutzer",
    "teile dem nutzer",
    "ab jetzt",
    "von nun an",
    "nicht erwähnen",
    "erwähne nicht",
    "dis à l'utilisateur",
    "dites à l'utilisateur",
    "à partir de maintenant",
    "désormais",
    "ne mentionne pas",
    "sans le dire",
    "dile al usuario",
    "a partir de ahora",
    "de ahora en adelante",
    "no menciones",
    "di' all'utente",
    "dì all'utente",
    "d'ora in poi",
    "da ora in poi",
    "non menzionare",
    "diga ao usuário",
    "diga ao utilizador",
    "a partir de agora",
    "de agora em diante",
    "não mencione",
    "do not",
    "from now on",
    "from this point",
    "ask the user",
    "ask users",
    "your new task",
    "on the user's behalf",
    "tell the user",
    "tell users",
    "tell the customer",
    "tell them",
    "tell the reader",
    "state that",
    "say that",
    "write that",
    "claim that",
];

/// Most bytes after an address searched for a directive (to the sentence end).
const DIRECTIVE_WINDOW: usize = 200;
/// Most words between a lead and the head, or after the head before its
/// separator (a participle phrase: "processing reviews", "reading this FAQ").
const MAX_MODIFIERS: usize = 2;
const MAX_PARTICIPLE_WORDS: usize = 4;
/// Most words walked back from the head to the start of its address.
const MAX_LEAD_WORDS: usize = 8;
/// Most addresses whose sentence is searched for a directive: a text made
/// of addresses costs no more than this many searches.
const MAX_SEARCHES: usize = 64;

#[derive(Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
}

/// Words of folded text: runs of letters, digits, `'`, `-`, `_` and `.`
/// inside a word ("a.i", "p.s", "don't", "l'ia"). Every non-ASCII byte
/// counts as a letter ("modèle", "prüfer"): a run of them is always whole
/// characters, so word bounds are character bounds.
fn words(text: &str) -> Vec<Word> {
    let b = text.as_bytes();
    let letter = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if letter(b[i]) {
            let start = i;
            while i < b.len()
                && (letter(b[i])
                    || (matches!(b[i], b'\'' | b'-' | b'_' | b'.')
                        && b.get(i + 1).is_some_and(|c| letter(*c))))
            {
                i += 1;
            }
            out.push(Word { start, end: i });
        } else {
            i += 1;
        }
    }
    out
}

/// Whether what lies between two words is only spaces.
fn adjacent(text: &str, a: Word, b: Word) -> bool {
    text.get(a.end..b.start)
        .is_some_and(|gap| !gap.is_empty() && gap.bytes().all(|c| c == b' '))
}

/// Whether `at` begins a clause: the start of the text or of a line, or
/// after sentence punctuation, a colon, a bracket or a comment opener.
fn clause_start(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end_matches(' ');
    match before.bytes().last() {
        None => true,
        Some(c) => matches!(
            c,
            b'\n'
                | b'.'
                | b'!'
                | b'?'
                | b':'
                | b';'
                | b'('
                | b'['
                | b'-'
                | b'>'
                | b'/'
                | b'*'
                | b'#'
                | b'"'
                | b')'
                | b','
        ),
    }
}

/// The end of the sentence that starts at `from`, within the window.
fn sentence_end(text: &str, from: usize) -> usize {
    let mut stop = (from + DIRECTIVE_WINDOW).min(text.len());
    while !text.is_char_boundary(stop) {
        stop -= 1;
    }
    let window = &text[from..stop];
    let end = ['\n', '!', '?']
        .iter()
        .filter_map(|c| window.find(*c))
        .chain(window.find(". "))
        .min()
        .unwrap_or(window.len());
    from + end
}

/// The directive in `text[from..to]`, if any.
fn directive(text: &str, ws: &[Word], from: usize, to: usize) -> Option<&'static str> {
    let span = text.get(from..to)?;
    // Words are in text order: only those of the window are looked at, so
    // a text full of addresses stays linear.
    let first = ws.partition_point(|w| w.start < from);
    for w in ws[first..].iter().take_while(|w| w.end <= to) {
        let word = &text[w.start..w.end];
        if let Some(d) = DIRECTIVES.iter().find(|d| **d == word) {
            return Some(d);
        }
    }
    DIRECTIVE_PHRASES.iter().copied().find(|p| {
        span.match_indices(p).any(|(i, _)| {
            let at = from + i;
            let end = at + p.len();
            (at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric())
                && text
                    .as_bytes()
                    .get(end)
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
        })
    })
}

fn word<'t>(text: &'t str, ws: &[Word], i: usize) -> &'t str {
    ws.get(i).map_or("", |w| &text[w.start..w.end])
}

/// A word without an elided article ("l'ia" → "ia", "un'ia" → "ia").
fn bare(w: &str) -> &str {
    match w.rsplit_once('\'') {
        Some((before, after)) if before.len() <= 4 && !after.is_empty() => after,
        _ => w,
    }
}

/// Whether word `i` names the model (a head, or "ai"/"automated" + noun);
/// the index of its last word.
fn head_at(text: &str, ws: &[Word], i: usize) -> Option<usize> {
    let w = bare(word(text, ws, i));
    // Most words are rejected by their first letter and length.
    if w.len() > 17
        || !matches!(
            w.as_bytes().first(),
            Some(b'a' | b'b' | b'c' | b'e' | b'g' | b'i' | b'k' | b'l' | b'm' | b's')
        )
    {
        return None;
    }
    if (w == "ai" || w == "automated")
        && AFTER_AI.contains(&word(text, ws, i + 1))
        && adjacent(text, ws[i], ws[i + 1])
    {
        return Some(i + 1);
    }
    if w == "language" && matches!(word(text, ws, i + 1), "model" | "models") {
        return Some(i + 1);
    }
    if OTHER_HEADS.contains(&w) {
        // "assistant d'achat", "asistente de compras", "assistente agli acquisti"
        if PREPOSITIONS.contains(&word(text, ws, i + 1))
            && ws.get(i + 2).is_some()
            && adjacent(text, ws[i], ws[i + 1])
            && adjacent(text, ws[i + 1], ws[i + 2])
        {
            return Some(i + 2);
        }
        if word(text, ws, i + 1).starts_with("d'")
            && ws.get(i + 1).is_some_and(|n| adjacent(text, ws[i], *n))
        {
            return Some(i + 1);
        }
        return Some(i);
    }
    HEADS.contains(&w).then_some(i)
}

/// Keeps the strongest address found.
fn note(best: &mut Option<(f32, String)>, weight: f32, detail: String) {
    if best.as_ref().is_none_or(|(w, _)| weight > *w) {
        *best = Some((weight, detail));
    }
}

/// Finds addresses to the model in folded text and records them.
pub fn scan(text: &str, ev: &mut Evidence) {
    const CUES: &[&str] = &[
        "ai",
        "assistant",
        "agent",
        "model",
        "llm",
        "bot",
        "copilot",
        "automated",
        "gpt",
        "claude",
        "gemini",
        "you read this",
        "ki",
        "ia",
        "assistent",
        "asistente",
        "modell",
        "modèle",
        "modelo",
    ];
    if !CUES.iter().any(|c| text.contains(c)) {
        return;
    }
    let ws = words(text);
    let mut best: Option<(f32, String)> = None;
    let mut searches = 0usize;
    for i in 0..ws.len() {
        if searches >= MAX_SEARCHES || best.as_ref().is_some_and(|(w, _)| *w >= 0.55) {
            break;
        }
        // "when you read this," / "if you are reading this,"
        if matches!(
            word(text, &ws, i),
            "when" | "if" | "wenn" | "si" | "se" | "falls"
        ) {
            let phrase = text.get(ws[i].start..).unwrap_or("");
            for cue in [
                "when you read this",
                "if you are reading this",
                "if you're reading this",
                "when the ai reads this",
                "when an ai reads this",
                "when any ai reads this",
                "when the model reads this",
                "when the assistant reads this",
                "when the agent reads this",
                "when an llm reads this",
                "when the llm reads this",
                "wenn du eine ki bist",
                "falls du eine ki bist",
                "si tu es une ia",
                "si vous êtes une ia",
                "si eres una ia",
                "si usted es una ia",
                "se sei un'ia",
                "se sei un ia",
                "se você é uma ia",
                "se és uma ia",
            ] {
                if phrase.starts_with(cue) {
                    let after = ws[i].start + cue.len();
                    let end = sentence_end(text, after);
                    searches += 1;
                    if let Some(d) = directive(text, &ws, after, end) {
                        note(&mut best, 0.55, format!("{cue} … {d}"));
                    }
                }
            }
        }
        let Some(last) = head_at(text, &ws, i) else {
            continue;
        };
        let head = &text[ws[i].start..ws[last].end];
        // Back over modifiers and leads to where the address begins.
        let mut first = i;
        let mut modifiers = 0;
        let mut conditional = false;
        while first > 0 && i - first < MAX_LEAD_WORDS && adjacent(text, ws[first - 1], ws[first]) {
            let prev = word(text, &ws, first - 1);
            // "if you are an …", "if you're a …" (not "You are a helpful
            // assistant, who …", how a system prompt begins).
            let before_you = first.checked_sub(4).map_or("", |k| word(text, &ws, k));
            if matches!(prev, "an" | "a")
                && first >= 3
                && match (word(text, &ws, first - 3), word(text, &ws, first - 2)) {
                    ("you", "are" | "were") => matches!(before_you, "if" | "when"),
                    ("if", "you're") => true,
                    _ => false,
                }
            {
                conditional = true;
                first -= 1;
                break;
            }
            if LEADS.contains(&prev) {
                first -= 1;
            } else if modifiers < MAX_MODIFIERS
                && !MODALS.contains(&prev)
                && !DIRECTIVES.contains(&prev)
                && prev.len() > 1
            {
                modifiers += 1;
                first -= 1;
            } else {
                break;
            }
        }
        // "ia" and "ki" name the model only after an article or a lead
        // ("l'IA", "an die KI"): alone they are too often something else.
        if matches!(bare(word(text, &ws, i)), "ia" | "ki")
            && !word(text, &ws, i).contains('\'')
            && !(i > 0
                && adjacent(text, ws[i - 1], ws[i])
                && matches!(
                    word(text, &ws, i - 1),
                    "die"
                        | "der"
                        | "an"
                        | "la"
                        | "una"
                        | "une"
                        | "a"
                        | "à"
                        | "uma"
                        | "para"
                        | "per"
                ))
        {
            continue;
        }
        // Forward over a participle phrase to the separator or the modal.
        let mut next = last + 1;
        let participle =
            word(text, &ws, next).ends_with("ing") || RELATIVES.contains(&word(text, &ws, next));
        if participle && ws.get(next).is_some_and(|w| adjacent(text, ws[last], *w)) {
            let mut k = next + 1;
            while k < ws.len()
                && k <= next + MAX_PARTICIPLE_WORDS
                && adjacent(text, ws[k - 1], ws[k])
            {
                if MODALS.contains(&word(text, &ws, k)) {
                    break;
                }
                k += 1;
            }
            // The phrase ends where the text stops being adjacent words.
            next = k;
        }
        // "Language model instructions:", "AI note:".
        if TRAILERS.contains(&word(text, &ws, next))
            && ws
                .get(next)
                .is_some_and(|w| adjacent(text, ws[next - 1], *w))
        {
            next += 1;
        }
        let tail_end = ws[next - 1].end;
        let rest = text.get(tail_end..).unwrap_or("");
        let separator = rest.trim_start_matches(' ');
        let sep = separator.chars().next();
        // Third person: "the agent should export …".
        if MODALS.contains(&word(text, &ws, next))
            && ws
                .get(next)
                .is_some_and(|w| adjacent(text, ws[next - 1], *w))
        {
            let modal = word(text, &ws, next);
            if matches!(modal, "has" | "have" | "is" | "are" | "needs" | "need")
                && word(text, &ws, next + 1) != "to"
            {
                continue;
            }
            let mut k = next + 1;
            while ADVERBS.contains(&word(text, &ws, k)) {
                k += 1;
            }
            let verb = word(text, &ws, k);
            if DIRECTIVES.contains(&verb) || MODAL_DIRECTIVES.contains(&verb) {
                // "AI agents reading this FAQ should …" speaks to the
                // reader; "the agent should …" may describe a design.
                let weight = if participle { 0.55 } else { 0.35 };
                note(
                    &mut best,
                    weight,
                    format!("{head} {} {verb}", word(text, &ws, next)),
                );
            }
            continue;
        }
        let at_start = clause_start(text, ws[first].start);
        if conditional && sep == Some(',') {
            let after = tail_end + (rest.len() - separator.len()) + 1;
            let end = sentence_end(text, after);
            searches += 1;
            if let Some(d) = directive(text, &ws, after, end) {
                note(&mut best, 0.55, format!("if you are {head}, … {d}"));
            }
            continue;
        }
        if !at_start || !matches!(sep, Some(':' | ',')) {
            continue;
        }
        // "Assistant: Thank you…" in a transcript is a turn, not an address:
        // only a directive makes it evidence beyond the weak one.
        let after = tail_end + (rest.len() - separator.len()) + 1;
        let end = sentence_end(text, after);
        searches += 1;
        match directive(text, &ws, after, end) {
            Some(d) => note(
                &mut best,
                0.5,
                format!("{head}{} … {d}", sep.unwrap_or(':')),
            ),
            None => note(&mut best, 0.2, format!("addressed to {head}")),
        }
    }
    if let Some((weight, detail)) = best {
        ev.add_with(code::OVERRIDE, weight, || format!("to the model: {detail}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first-letter filter of `head_at` lets every head through.
    #[test]
    fn every_head_passes_the_first_letter_filter() {
        for h in HEADS.iter().chain(OTHER_HEADS).chain(&[
            "automated system",
            "ai reviewer",
            "language model",
        ]) {
            let ws = words(h);
            assert!(head_at(h, &ws, 0).is_some(), "{h}");
        }
    }
}
