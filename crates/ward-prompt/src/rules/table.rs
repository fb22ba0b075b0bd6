//! The phrase table: every literal the rules look for, with what it means.
//!
//! Literals are written lowercase, as they appear in the folded text (see
//! `normalize`); a leading `\n` anchors a literal at the start of a line.
//! Weights are the probability-like strength of one hit; hits of a reason
//! combine by noisy-or. Weights were set by hand and checked on the dev
//! split of the evaluation corpus (never the held-out test split).

use crate::reason::code;

/// What a literal of the table is.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    /// A phrase that is evidence on its own.
    Phrase { code: &'static str, weight: f32 },
    /// A verb of a verb-object pair ("ignore" … "instructions").
    Verb { family: Family, verb_final: bool },
    /// An object of a verb-object pair.
    Object { family: Family },
}

/// The kinds of verb-object pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// "ignore / forget / disregard" + "instructions / rules / prompt".
    Override,
    /// "reveal / print / repeat" + "system prompt / your instructions".
    Leak,
}

const fn p(code: &'static str, weight: f32) -> Entry {
    Entry::Phrase { code, weight }
}

const OV: Entry = Entry::Verb {
    family: Family::Override,
    verb_final: false,
};
/// Infinitive or SOV verb forms that may follow their object
/// ("Anweisungen ignorieren", "指示を無視").
const OVF: Entry = Entry::Verb {
    family: Family::Override,
    verb_final: true,
};
const OO: Entry = Entry::Object {
    family: Family::Override,
};
const LV: Entry = Entry::Verb {
    family: Family::Leak,
    verb_final: false,
};
const LO: Entry = Entry::Object {
    family: Family::Leak,
};

/// Words that, between a verb and its object, make an override explicit.
pub const QUALIFIERS: &[&str] = &[
    "previous",
    "prior",
    "above",
    "earlier",
    "preceding",
    "initial",
    "original",
    "all ",
    "any ",
    "your",
    "system",
    "every",
    "foregoing",
    "existing",
    "old",
    "vorherig",
    "bisherig",
    "alle",
    "précédent",
    "precedent",
    "toutes",
    "anterior",
    "todas",
    "todos",
    "precedenti",
    "tutte",
    "предыдущ",
    "все",
    "之前",
    "以前",
    "上面",
    "所有",
    "上記",
    "前の",
    "これまで",
    "önceki",
];

#[rustfmt::skip]
pub const TABLE: &[(&str, Entry)] = &[
    // --- instruction override: verbs (many languages) ---
    ("ignore", OV), ("disregard", OV), ("forget", OV), ("override", OV), ("bypass", OV),
    ("abandon", OV), ("discard", OV), ("neglect", OV), ("set aside", OV), ("throw out", OV),
    ("pay no attention to", OV), ("do not follow", OV), ("don't follow", OV),
    ("stop following", OV), ("no longer follow", OV), ("unlearn", OV),
    ("ignoriere", OV), ("ignorieren", OVF), ("vergiss", OV), ("vergessen", OVF), ("missachte", OV),
    ("ignorez", OV), ("ignorer", OV), ("oublie", OV), ("oubliez", OV), ("ne tiens pas compte", OV),
    ("ne tenez pas compte", OV), ("ignora", OV), ("ignorar", OV), ("olvida", OV), ("olvide", OV),
    ("olvidar", OV), ("omite", OV), ("descarta", OV), ("dimentica", OV), ("dimenticare", OV),
    ("trascura", OV), ("esqueça", OV), ("esqueca", OV), ("esquece", OV), ("desconsidere", OV),
    ("игнорируй", OV), ("проигнорируй", OV), ("игнорировать", OVF), ("забудь", OV),
    ("не обращай внимания на", OV), ("отбрось", OV), ("negeer", OV), ("vergeet", OV),
    ("zignoruj", OV), ("ignoruj", OV), ("zapomnij", OV), ("yok say", OVF), ("unut", OVF),
    ("忽略", OV), ("无视", OV), ("忽视", OV), ("忘记", OV), ("忘掉", OV), ("不要理会", OV),
    ("無視", OVF), ("忘れ", OVF), ("무시", OVF), ("잊어", OVF),
    // --- instruction override: objects ---
    ("instruction", OO), ("directive", OO), ("guideline", OO), ("rules", OO), ("programming", OO),
    ("restriction", OO), ("safeguard", OO), ("guardrail", OO), ("prompt", OO), ("policy", OO), ("policies", OO),
    ("constraints", OO), ("directions", OO), ("training", OO), ("commands", OO), ("orders", OO),
    ("anweisung", OO), ("instruktion", OO), ("regeln", OO), ("vorgaben", OO), ("befehle", OO),
    ("richtlinien", OO), ("consignes", OO), ("règles", OO), ("instrucci", OO), ("reglas", OO),
    ("directrices", OO), ("indicaciones", OO), ("istruzioni", OO), ("regole", OO),
    ("direttive", OO), ("instruções", OO), ("instrucoes", OO), ("regras", OO), ("diretrizes", OO),
    ("инструкци", OO), ("правил", OO), ("указани", OO), ("директив", OO), ("промпт", OO),
    ("instructies", OO), ("regels", OO), ("instrukcje", OO), ("polecenia", OO), ("zasady", OO),
    ("talimat", OO), ("talımat", OO), ("kural", OO), ("mesajları", OO), ("指令", OO), ("指示", OO), ("规则", OO), ("提示", OO),
    ("设定", OO), ("命令", OO), ("ルール", OO), ("プロンプト", OO), ("지시", OO), ("명령", OO),
    ("규칙", OO),
    // --- instruction override: phrases ---
    ("new instructions", p(code::OVERRIDE, 0.45)), ("new important instructions", p(code::OVERRIDE, 0.8)),
    ("updated instructions", p(code::OVERRIDE, 0.35)), ("from now on you", p(code::OVERRIDE, 0.45)),
    ("from now on, you", p(code::OVERRIDE, 0.45)), ("you are no longer", p(code::OVERRIDE, 0.45)),
    ("your new task is", p(code::OVERRIDE, 0.6)), ("your new role", p(code::OVERRIDE, 0.5)),
    ("your real task", p(code::OVERRIDE, 0.5)), ("stop everything", p(code::OVERRIDE, 0.4)),
    ("only follow my instructions", p(code::OVERRIDE, 0.6)), ("you must obey", p(code::OVERRIDE, 0.5)),
    ("i am your developer", p(code::OVERRIDE, 0.6)), ("i am your creator", p(code::OVERRIDE, 0.5)),
    ("admin override", p(code::OVERRIDE, 0.7)), ("sudo mode", p(code::OVERRIDE, 0.6)),
    ("god mode", p(code::OVERRIDE, 0.45)), ("system override", p(code::OVERRIDE, 0.7)),
    ("instead, you will", p(code::OVERRIDE, 0.3)), ("forget everything you", p(code::OVERRIDE, 0.6)),
    ("no longer apply", p(code::OVERRIDE, 0.3)), ("nevermind.", p(code::OVERRIDE, 0.25)),
    ("neue anweisungen", p(code::OVERRIDE, 0.45)), ("nouvelles instructions", p(code::OVERRIDE, 0.45)),
    ("nuevas instrucciones", p(code::OVERRIDE, 0.45)), ("nuove istruzioni", p(code::OVERRIDE, 0.45)),
    ("novas instruções", p(code::OVERRIDE, 0.45)), ("новые инструкции", p(code::OVERRIDE, 0.45)),
    ("新的指令", p(code::OVERRIDE, 0.45)), ("新しい指示", p(code::OVERRIDE, 0.45)),
    // --- system prompt leak ---
    ("reveal", LV), ("show me", LV), ("print", LV), ("repeat", LV), ("output", LV),
    ("display", LV), ("leak", LV), ("tell me", LV), ("give me", LV), ("share", LV),
    ("write out", LV), ("spell check", LV), ("what are", LV), ("what is", LV),
    ("what were", LV), ("dump", LV), ("zeige", LV), ("gib", LV), ("montre", LV), ("muestra", LV),
    ("mostra", LV), ("покажи", LV), ("выведи", LV), ("显示", LV), ("输出", LV), ("告诉我", LV),
    ("révèle", LV), ("affiche", LV), ("montrez", LV), ("revela", LV), ("mostrami", LV),
    ("zeig", LV), ("отобрази", LV), ("表示して", LV), ("教えて", LV),
    ("system prompt", LO), ("your instructions", LO), ("initial instructions", LO),
    ("your prompt", LO), ("text above", LO), ("words above", LO), ("everything above", LO),
    ("previous instructions", LO), ("your rules", LO), ("initial prompt", LO),
    ("hidden prompt", LO), ("your configuration", LO), ("pre-prompt", LO),
    ("confidential instructions", LO), ("your directives", LO), ("above text", LO),
    ("original instructions", LO), ("systemprompt", LO), ("системный промпт", LO),
    ("系统提示", LO), ("システムプロンプト", LO), ("consignes système", LO),
    ("instructions système", LO), ("prompt système", LO), ("prompt del sistema", LO),
    ("instrucciones del sistema", LO), ("istruzioni di sistema", LO), ("prompt do sistema", LO),
    ("systemanweisungen", LO), ("системные инструкции", LO), ("系统指令", LO), ("sistem istem", LO),
    ("repeat the words above", p(code::LEAK, 0.85)), ("you are a gpt", p(code::LEAK, 0.5)),
    ("beginning of this conversation", p(code::LEAK, 0.3)), ("in a txt code block", p(code::LEAK, 0.5)),
    ("what was written at the beginning", p(code::LEAK, 0.6)), ("what were you told", p(code::LEAK, 0.5)),
    ("i was instructed to", p(code::LEAK, 0.4)), ("you were instructed", p(code::LEAK, 0.35)),
    ("verbatim", p(code::LEAK, 0.15)), ("secret key", p(code::LEAK, 0.2)), ("password", p(code::LEAK, 0.1)),
    // --- role and system spoofing ---
    ("<|im_start|>", p(code::ROLE, 0.7)), ("<|im_end|>", p(code::ROLE, 0.6)),
    ("<|system|>", p(code::ROLE, 0.7)), ("<|user|>", p(code::ROLE, 0.4)),
    ("<|assistant|>", p(code::ROLE, 0.5)), ("<|endoftext|>", p(code::ROLE, 0.6)),
    ("<|eot_id|>", p(code::ROLE, 0.6)), ("<|start_header_id|>", p(code::ROLE, 0.7)),
    ("<|begin_of_text|>", p(code::ROLE, 0.5)), ("[inst]", p(code::ROLE, 0.45)),
    ("[/inst]", p(code::ROLE, 0.45)), ("<<sys>>", p(code::ROLE, 0.7)), ("<</sys>>", p(code::ROLE, 0.6)),
    ("<start_of_turn>", p(code::ROLE, 0.5)), ("\n### system", p(code::ROLE, 0.5)),
    ("\nsystem:", p(code::ROLE, 0.5)), ("\n[system]", p(code::ROLE, 0.5)), ("[system]", p(code::ROLE, 0.4)),
    ("[/system]", p(code::ROLE, 0.4)),
    ("\nassistant:", p(code::ROLE, 0.2)), ("system message:", p(code::ROLE, 0.4)),
    ("you are now", p(code::ROLE, 0.35)), ("you will now act as", p(code::ROLE, 0.45)),
    ("pretend to be", p(code::ROLE, 0.2)), ("pretend you are", p(code::ROLE, 0.15)),
    ("act as a", p(code::ROLE, 0.05)), ("roleplay", p(code::ROLE, 0.1)), ("role-play", p(code::ROLE, 0.1)),
    ("in character", p(code::ROLE, 0.2)), ("respond as", p(code::ROLE, 0.1)),
    // --- delimiter and markup injection ---
    ("</context>", p(code::DELIMITER, 0.4)), ("</document>", p(code::DELIMITER, 0.35)),
    ("</system>", p(code::DELIMITER, 0.45)), ("<system>", p(code::DELIMITER, 0.3)),
    ("</user>", p(code::DELIMITER, 0.35)), ("</instructions>", p(code::DELIMITER, 0.4)),
    ("end of prompt", p(code::DELIMITER, 0.5)), ("end of system prompt", p(code::DELIMITER, 0.7)),
    ("end of user input", p(code::DELIMITER, 0.5)), ("end of context", p(code::DELIMITER, 0.4)),
    ("end of instructions", p(code::DELIMITER, 0.4)), ("end of document", p(code::DELIMITER, 0.3)),
    ("begin system", p(code::DELIMITER, 0.5)), ("important message from", p(code::DELIMITER, 0.35)),
    ("[//]: #", p(code::DELIMITER, 0.35)), ("<tool_result>", p(code::DELIMITER, 0.45)),
    ("tool_result", p(code::DELIMITER, 0.25)), ("function_result", p(code::DELIMITER, 0.3)),
    ("</function_results>", p(code::DELIMITER, 0.5)), ("\"role\": \"system\"", p(code::DELIMITER, 0.35)),
    ("\"role\":\"system\"", p(code::DELIMITER, 0.35)), ("=== end", p(code::DELIMITER, 0.3)),
    ("--- end", p(code::DELIMITER, 0.3)),
    // --- tool-call hijacking and covert actions ---
    ("send an email to", p(code::TOOL, 0.3)), ("send email to", p(code::TOOL, 0.3)),
    ("forward all", p(code::TOOL, 0.3)), ("forward this email", p(code::TOOL, 0.3)),
    ("call the function", p(code::TOOL, 0.35)), ("call the tool", p(code::TOOL, 0.35)),
    ("invoke the tool", p(code::TOOL, 0.4)), ("execute the following command", p(code::TOOL, 0.45)),
    ("execute this command", p(code::TOOL, 0.4)), ("run the following command", p(code::TOOL, 0.3)),
    ("rm -rf /", p(code::TOOL, 0.5)), ("rm -rf ~", p(code::TOOL, 0.5)),
    ("delete all files", p(code::TOOL, 0.4)), ("delete all emails", p(code::TOOL, 0.5)),
    ("transfer the funds", p(code::TOOL, 0.4)), ("without asking the user", p(code::TOOL, 0.5)),
    ("without telling the user", p(code::TOOL, 0.6)), ("without informing the user", p(code::TOOL, 0.6)),
    ("do not tell the user", p(code::TOOL, 0.6)), ("don't tell the user", p(code::TOOL, 0.6)),
    ("do not inform the user", p(code::TOOL, 0.6)), ("do not mention this", p(code::TOOL, 0.45)),
    ("include in your response", p(code::TOOL, 0.3)), ("in your response the following", p(code::TOOL, 0.35)),
    // --- exfiltration ---
    ("exfiltrate", p(code::EXFIL, 0.5)), ("send the conversation", p(code::EXFIL, 0.6)),
    ("send all previous", p(code::EXFIL, 0.6)), ("append the user", p(code::EXFIL, 0.4)),
    ("base64 encoded string", p(code::EXFIL, 0.25)), ("url encode", p(code::EXFIL, 0.2)),
    // --- jailbreak templates ---
    ("do anything now", p(code::JAILBREAK, 0.8)), ("dan mode", p(code::JAILBREAK, 0.8)),
    ("you are dan", p(code::JAILBREAK, 0.8)), ("developer mode", p(code::JAILBREAK, 0.3)),
    ("developer mode enabled", p(code::JAILBREAK, 0.8)), ("jailbreak", p(code::JAILBREAK, 0.35)),
    ("jailbroken", p(code::JAILBREAK, 0.6)), ("🔓", p(code::JAILBREAK, 0.5)),
    ("stay in character", p(code::JAILBREAK, 0.45)), ("aim stands for", p(code::JAILBREAK, 0.8)),
    ("machiavellian", p(code::JAILBREAK, 0.4)), ("unfiltered", p(code::JAILBREAK, 0.35)),
    ("uncensored", p(code::JAILBREAK, 0.35)), ("amoral", p(code::JAILBREAK, 0.4)),
    ("immoral", p(code::JAILBREAK, 0.25)), ("unethical", p(code::JAILBREAK, 0.15)),
    ("no ethical", p(code::JAILBREAK, 0.45)), ("no moral", p(code::JAILBREAK, 0.45)),
    ("without any moral", p(code::JAILBREAK, 0.45)), ("without any ethical", p(code::JAILBREAK, 0.45)),
    ("without restrictions", p(code::JAILBREAK, 0.35)), ("without any restrictions", p(code::JAILBREAK, 0.45)),
    ("no restrictions", p(code::JAILBREAK, 0.35)), ("not bound by", p(code::JAILBREAK, 0.35)),
    ("free from the typical confines", p(code::JAILBREAK, 0.8)), ("broken free", p(code::JAILBREAK, 0.5)),
    ("never refuse", p(code::JAILBREAK, 0.45)), ("cannot refuse", p(code::JAILBREAK, 0.3)),
    ("can't refuse", p(code::JAILBREAK, 0.3)), ("will not refuse", p(code::JAILBREAK, 0.3)),
    ("won't refuse", p(code::JAILBREAK, 0.3)), ("content polic", p(code::JAILBREAK, 0.35)),
    ("openai's polic", p(code::JAILBREAK, 0.3)), ("openai polic", p(code::JAILBREAK, 0.3)),
    ("ethical guidelines", p(code::JAILBREAK, 0.25)), ("safety guidelines", p(code::JAILBREAK, 0.2)),
    ("deceased grandmother", p(code::JAILBREAK, 0.5)), ("dead grandmother", p(code::JAILBREAK, 0.5)),
    ("late grandmother", p(code::JAILBREAK, 0.3)), ("my grandma used to", p(code::JAILBREAK, 0.3)),
    ("my grandmother used to", p(code::JAILBREAK, 0.3)), ("opposite mode", p(code::JAILBREAK, 0.6)),
    ("evil confidant", p(code::JAILBREAK, 0.8)), ("anti-dan", p(code::JAILBREAK, 0.6)),
    ("betterdan", p(code::JAILBREAK, 0.8)), ("two different responses", p(code::JAILBREAK, 0.35)),
    ("two separate responses", p(code::JAILBREAK, 0.35)), ("two responses", p(code::JAILBREAK, 0.3)),
    ("developer mode output", p(code::JAILBREAK, 0.8)), ("[gpt]:", p(code::JAILBREAK, 0.3)),
    ("hypothetical response", p(code::JAILBREAK, 0.35)), ("no limitations", p(code::JAILBREAK, 0.4)),
    ("limitless", p(code::JAILBREAK, 0.3)), ("unrestricted", p(code::JAILBREAK, 0.35)),
    ("not have to abide", p(code::JAILBREAK, 0.6)), ("n't have to abide", p(code::JAILBREAK, 0.6)),
    ("token system", p(code::JAILBREAK, 0.5)), ("lose tokens", p(code::JAILBREAK, 0.5)),
    ("tokens will be deducted", p(code::JAILBREAK, 0.6)), ("as an ai language model", p(code::JAILBREAK, 0.1)),
    ("openai", p(code::JAILBREAK, 0.15)), ("chatgpt", p(code::JAILBREAK, 0.1)),
    ("illegal", p(code::JAILBREAK, 0.08)), ("no filter", p(code::JAILBREAK, 0.35)),
    ("fictional world", p(code::JAILBREAK, 0.2)), ("hypothetically", p(code::JAILBREAK, 0.1)),
    ("sin restricciones", p(code::JAILBREAK, 0.4)), ("sans restrictions", p(code::JAILBREAK, 0.4)),
    ("ohne einschränkungen", p(code::JAILBREAK, 0.4)), ("senza restrizioni", p(code::JAILBREAK, 0.4)),
    ("sem restrições", p(code::JAILBREAK, 0.4)), ("без ограничений", p(code::JAILBREAK, 0.4)),
    ("没有任何限制", p(code::JAILBREAK, 0.45)), ("不受任何限制", p(code::JAILBREAK, 0.45)),
    ("制限なし", p(code::JAILBREAK, 0.4)), ("modo desarrollador", p(code::JAILBREAK, 0.45)),
    ("mode développeur", p(code::JAILBREAK, 0.45)), ("entwicklermodus", p(code::JAILBREAK, 0.45)),
    ("modalità sviluppatore", p(code::JAILBREAK, 0.45)), ("modo de desenvolvedor", p(code::JAILBREAK, 0.45)),
    ("режим разработчика", p(code::JAILBREAK, 0.45)), ("开发者模式", p(code::JAILBREAK, 0.45)),
    ("開発者モード", p(code::JAILBREAK, 0.45)), ("geliştirici modu", p(code::JAILBREAK, 0.45)),
    ("sansürsüz", p(code::JAILBREAK, 0.35)), ("filtresiz", p(code::JAILBREAK, 0.35)),
    ("sınırsız", p(code::JAILBREAK, 0.2)), ("kısıtlamaları kaldır", p(code::JAILBREAK, 0.5)),
    ("talimatlar iptal", p(code::OVERRIDE, 0.6)), ("yok sayar", p(code::OVERRIDE, 0.3)),
];
