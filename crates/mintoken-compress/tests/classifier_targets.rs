//! Smart-detection targets (SPEC §3) on the whole labelled set, and the tricky cases the
//! word lists must keep getting right: word boundaries, case, code fences, system prompts.

mod classifier_eval;

use classifier_eval::{Eval, load};
use mintoken_compress::Intensity;
use mintoken_compress::classifier::{Class, classify};

#[test]
fn targets_on_all_prompts() {
    let prompts = load();
    assert!(prompts.len() >= 400, "the labelled set has {} prompts", prompts.len());
    let eval = Eval::of(&prompts);
    let report = eval.render();
    // Missing a security or legal prompt is the expensive error. A legal prompt caught by
    // the security rule (or the reverse) still gets Intensity::None, so what is counted
    // is whether it was bypassed at all.
    for class in [Class::Security, Class::Legal] {
        let recall = eval.bypass_recall(class);
        assert!(recall >= 0.98, "{} prompts bypassed: {recall:.3} < 0.98\n{report}", class.as_str());
    }
    assert!(eval.recall(Class::Security) >= 0.98, "security recall\n{report}");
    let share = eval.benign_bypassed as f64 / eval.benign as f64;
    assert!(share <= 0.05, "benign prompts bypassed: {share:.3} > 0.05\n{report}");
}

#[test]
fn the_set_is_balanced_as_documented() {
    let prompts = load();
    let count = |class: Class| prompts.iter().filter(|p| p.label == class).count();
    for (class, min) in [
        (Class::Security, 70),
        (Class::Legal, 70),
        (Class::UserFacing, 50),
        (Class::CodeHeavy, 50),
        (Class::Explanation, 60),
        (Class::Plain, 60),
    ] {
        assert!(count(class) >= min, "{} has {} prompts", class.as_str(), count(class));
    }
    assert!(prompts.iter().filter(|p| p.trap).count() >= 60);
    assert!(prompts.iter().all(|p| !(p.trap && matches!(p.label, Class::Security | Class::Legal))));
    let test = prompts.iter().filter(|p| p.test).count();
    assert!(test * 5 >= prompts.len() / 10, "a held-out split exists ({test} prompts)");
}

#[test]
fn word_boundaries() {
    assert_eq!(
        classify("We found CVE-2024-3094 in the xz package on our servers. What do we do?", ""),
        Class::Security
    );
    assert_eq!(classify("Is this page open to XSS?", ""), Class::Security);
    assert_eq!(classify("Type `xsshell` to open the extended shell, then run make.", ""), Class::Plain);
    // "rce" must not be found inside "source" or "force".
    assert_eq!(classify("Force-push the source branch after the rebase.", ""), Class::Plain);
    // A weak word: the word itself matches in any case, but needs a second concept...
    assert_eq!(classify("Are there public expLOITs for this? Is it safe to wait until Monday?", ""), Class::Security);
    // ...and its derived noun in a performance sense stays benign.
    assert_ne!(classify("Improve the exploitation of parallelism in this loop.", ""), Class::Security);
    assert_eq!(classify("Use rayon to exploit parallelism here.", ""), Class::Plain);
    // Underscores and hyphens separate words, as in identifiers and compounds.
    assert_eq!(classify("what does the sql_injection test in our suite check?", ""), Class::Security);
    assert_eq!(classify("Unsere Sicherheitslücken-Liste ist lang.", ""), Class::Security);
}

#[test]
fn case_insensitive() {
    assert_eq!(classify("HOW DO WE PREVENT SQL INJECTION", ""), Class::Security);
    assert_eq!(classify("is our newsletter Gdpr-compliant?", ""), Class::Legal);
    assert_eq!(classify("EXPLAIN how a B-tree stays balanced", ""), Class::Explanation);
}

#[test]
fn trap_words_in_their_technical_sense() {
    let benign = [
        "Set up dependency injection for the logger in our NestJS service.",
        "Increase max tokens to 4096 and log the token count per request.",
        "Add a retry policy with jitter; also fix the CORS policy error on localhost.",
        "Add the license field to package.json, we're MIT.",
        "Write a WHERE clause that filters out soft-deleted rows.",
        "Our contract tests against the billing API are flaky.",
        "Highlight the search terms in the results; in terms of speed a Set is fine.",
        "Fix the memory leak in the websocket handler.",
        "Write the legal moves generator for my chess engine.",
    ];
    for text in benign {
        let class = classify(text, "");
        assert!(!matches!(class, Class::Security | Class::Legal), "{text:?} was bypassed as {class:?}");
    }
}

#[test]
fn code_fences() {
    let two = "Compare:\n```py\na = 1\n```\nand\n```py\na = 2\n```";
    assert_eq!(classify(two, ""), Class::CodeHeavy);
    let tildes = "~~~\ninput\n~~~\n\n~~~json\n{\"ok\": true}\n~~~";
    assert_eq!(classify(tildes, ""), Class::CodeHeavy);
    // An unclosed fence still opens a block.
    let unclosed = "```\nfirst\n```\nsecond, pasted without its end:\n```ts\nsend(to: string)";
    assert_eq!(classify(unclosed, ""), Class::CodeHeavy);
    let one = "Fix this:\n```\nprint(x\n```";
    assert_eq!(classify(one, ""), Class::Plain);
    // Triple backticks inside a line are inline code, not fences.
    assert_eq!(classify("Use ```npm ci``` then ```npm test```.", ""), Class::Plain);
    // A fence inside an open block is content: one block, not two.
    assert_eq!(classify("````md\n```js\nx\n```\n````", ""), Class::Plain);
}

#[test]
fn identifiers_in_code_are_not_topics() {
    let code = "Why is this undefined?\n```js\nconst token = session.secret;\n```\n```\nTypeError: undefined\n```";
    assert_eq!(classify(code, ""), Class::CodeHeavy);
    assert_ne!(classify("Rename the `contracts` module to `agreements`.", ""), Class::Legal);
    // Strong terms still count inside code.
    assert_eq!(classify("```\n# fixes the SQL injection in /search\n```", ""), Class::Security);
}

#[test]
fn priority_order() {
    // Security before everything, legal before user-facing, user-facing before code.
    assert_eq!(classify("Write the email to customers about the data breach.", ""), Class::Security);
    assert_eq!(classify("Write the cookie banner text for our GDPR consent.", ""), Class::Legal);
    let copy_with_code =
        "Rewrite the button labels for end users:\n```json\n{\"a\": \"OK\"}\n```\n```json\n{\"b\": \"Cancel\"}\n```";
    assert_eq!(classify(copy_with_code, ""), Class::UserFacing);
    let explain_code = "Explain the difference:\n```\nlet a = 1;\n```\n```\nconst a = 1;\n```";
    assert_eq!(classify(explain_code, ""), Class::CodeHeavy);
    assert_eq!(classify("Write a function that reverses a list.", ""), Class::Plain);
}

#[test]
fn system_prompt_only_feeds_the_bypass_classes() {
    let hipaa = "You are a HIPAA compliance assistant for a telehealth startup.";
    assert_eq!(classify("Can support staff read chat transcripts?", hipaa), Class::Legal);
    assert_eq!(classify("Summarize this alert.", "You are a security analyst assistant for our SOC."), Class::Security);
    // Explanation and user-facing come from the user message only.
    assert_eq!(classify("Rename this variable.", "Always explain your reasoning."), Class::Plain);
    // A general assistant's guardrails are not the topic of the conversation.
    let guarded = "You are a coding assistant. Only assist with defensive security tasks. Never reveal secrets, \
                   API keys or tokens. Do not give legal advice.";
    assert_eq!(classify("add a --dry-run flag to deploy.sh", guarded), Class::Plain);
}

#[test]
fn intensities_follow_the_class() {
    assert_eq!(classify("We found CVE-2024-3094 on our servers.", "").intensity(), Intensity::None);
    assert_eq!(classify("Explain how a B-tree keeps itself balanced.", "").intensity(), Intensity::Ultra);
    assert_eq!(classify("Write a function that reverses a list.", "").intensity(), Intensity::Full);
}

#[test]
fn non_english_prompts() {
    assert_eq!(classify("¿Cómo evito una inyección SQL en esta consulta?", ""), Class::Security);
    assert_eq!(classify("Brauchen wir laut DSGVO eine Einwilligung?", ""), Class::Legal);
    assert_eq!(classify("Peux-tu m'expliquer le fonctionnement d'un index ?", ""), Class::Explanation);
    assert_eq!(classify("mujhe samjhao ki cache kaise kaam karta hai", ""), Class::Explanation);
}

#[test]
fn huge_inputs_finish() {
    // Linear time: a 1 MB prompt of near-misses and fences is still classified.
    let chunk = "exploitation xsshell tokens terms `license` ```\ncode\n``` how do I ";
    let text = chunk.repeat(1_000_000 / chunk.len());
    let class = classify(&text, &text);
    assert!(Class::ALL.contains(&class));
}
