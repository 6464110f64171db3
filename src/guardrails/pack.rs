//! Rule packs: the files in `guardrails/`, embedded at build time and
//! optionally extended from a directory (`guardrails.dir`). This is the schema
//! `switchboard validate` checks, and the one the engine compiles.

use super::validators::Validator;
use crate::catalog::read_toml_dir;
use crate::guardrails::Phase;
use crate::shapes::{ConfigError, decode_toml as load_decode};
use include_dir::{Dir, include_dir};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/guardrails");

/// A guardrail rule pack, as written in `guardrails/<id>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Pack id; must equal the file name.
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule of a pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the pack; logged and counted, never the matched text.
    pub id: String,
    /// `regex`, `keywords`, `semantic`, `scorer` or `webhook`.
    pub engine: String,
    /// Any of `input`, `output`, `tool_arguments`, `tool_result`.
    pub phases: Vec<String>,
    /// `block`, `redact` or `flag`.
    pub action: String,
    /// The placeholder type for redaction, e.g. `EMAIL` gives `[EMAIL_1]`.
    /// Default: the last part of the id, upper-cased.
    #[serde(default)]
    pub label: Option<String>,
    /// `regex`: patterns; a group named `m` narrows the match to that group.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `keywords`: words or phrases, matched case-insensitively on word boundaries.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `regex`: a check every match must pass (`luhn`, `iban`, `ssn`, `email`,
    /// `ipv4`, `ipv6`, `phone`, `jwt`, `secret`, `entropy`, `credential`).
    #[serde(default)]
    pub validator: Option<String>,
    /// `semantic`: phrases whose meaning the rule matches.
    #[serde(default)]
    pub examples: Vec<String>,
    /// `semantic`: the cosine similarity at which a sentence matches an
    /// example. `scorer`: the probability at which a piece of text matches
    /// (default: the one stored with the scorer's weights).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// `scorer`: the name of a learned scorer shipped in
    /// `guardrails/scorers/<name>.json` (e.g. `"injection"`). `semantic`:
    /// instead of `examples`, a learned sentence scorer shipped there (e.g.
    /// `"injection-sentences"`).
    #[serde(default)]
    pub scorer: Option<String>,
    /// `webhook`: the guard service's URL; it receives `{"rule","phase","text"}`
    /// and answers `{"verdict": "allow" | "flag" | "block"}`.
    #[serde(default)]
    pub url: Option<String>,
    /// `webhook`: time allowed for the answer, e.g. `"500ms"` (default 1s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// `webhook`: what a failed or late call means: `"allow"` (fail open) or
    /// `"block"` (fail closed). Required, so the choice is explicit.
    #[serde(default)]
    pub on_error: Option<String>,
    /// The id of a `semantic` rule of the same pack that supersedes this
    /// one: where that rule runs (its model is there, it is not disabled,
    /// the phase is one of its own), this rule does not; elsewhere it
    /// stands in for it. For patterns that add nothing to a model rule but
    /// false alarms, and are all there is without the model.
    #[serde(default)]
    pub superseded_by: Option<String>,
    /// The id of a `semantic` rule of the same pack beside which this one
    /// runs: only in the phases where that rule runs too, and nowhere when
    /// it is off. For a second reading of a text that is worth its false
    /// alarms only next to the model (at a stricter threshold); without the
    /// model a `superseded_by` rule stands in alone.
    #[serde(default)]
    pub beside: Option<String>,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Flag,
    Redact,
    Block,
}

impl Action {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "block" => Some(Self::Block),
            "redact" => Some(Self::Redact),
            "flag" => Some(Self::Flag),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Redact => "redact",
            Self::Flag => "flag",
        }
    }
}

pub fn parse_phase(text: &str) -> Option<Phase> {
    match text {
        "input" => Some(Phase::Input),
        "output" => Some(Phase::Output),
        "tool_arguments" => Some(Phase::ToolArguments),
        "tool_result" => Some(Phase::ToolResult),
        _ => None,
    }
}

pub fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Input => "input",
        Phase::Output => "output",
        Phase::ToolArguments => "tool_arguments",
        Phase::ToolResult => "tool_result",
    }
}

/// A learned scorer shipped with the gateway, by name.
pub fn builtin_scorer(name: &str) -> Result<super::scorer::TextScorer, String> {
    let text = scorer_file(name)?;
    super::scorer::TextScorer::parse(text)
        .map_err(|error| format!("guardrails/scorers/{name}.json: {error}"))
}

/// The text of `guardrails/scorers/<name>.json`, embedded in the binary.
fn scorer_file(name: &str) -> Result<&'static str, String> {
    EMBEDDED
        .get_file(format!("scorers/{name}.json"))
        .ok_or_else(|| format!("no scorer `{name}` in guardrails/scorers/"))?
        .contents_utf8()
        .ok_or_else(|| format!("guardrails/scorers/{name}.json is not UTF-8"))
}

/// A learned sentence scorer shipped with the gateway, by name (a file of
/// kind `sentences` in `guardrails/scorers/`).
pub fn builtin_sentence_scorer(
    name: &str,
) -> Result<super::sentence_scorer::SentenceScorer, String> {
    let text = scorer_file(name)?;
    super::sentence_scorer::SentenceScorer::parse(text)
        .map_err(|error| format!("guardrails/scorers/{name}.json: {error}"))
}

/// Every known pack by id: the built-in ones, then those in `dir` (which
/// replace built-in packs of the same id).
pub fn load_packs(dir: Option<&Path>) -> Result<BTreeMap<String, RulePack>, Vec<ConfigError>> {
    let mut packs = BTreeMap::new();
    let mut errors = Vec::new();
    let mut add =
        |name: &str, stem: &str, text: &str, errors: &mut Vec<ConfigError>| match decode_and_check(
            name, stem, text,
        ) {
            Ok(pack) => {
                packs.insert(pack.id.clone(), pack);
            }
            Err(problems) => errors.push(ConfigError {
                source_name: name.to_owned(),
                problems,
            }),
        };
    for file in EMBEDDED.files() {
        let path = file.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = format!("guardrails/{}", path.display());
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match file.contents_utf8() {
            Some(text) => add(&name, stem, text, &mut errors),
            None => errors.push(ConfigError::single(&name, "", "not UTF-8")),
        }
    }
    if let Some(dir) = dir {
        for (path, text) in read_toml_dir(dir, &mut errors) {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            add(&path.display().to_string(), stem, &text, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(packs)
    } else {
        Err(errors)
    }
}

/// Decode a pack file and check it; every problem with its key path.
pub fn decode_and_check(
    name: &str,
    stem: &str,
    text: &str,
) -> Result<RulePack, Vec<(String, String)>> {
    let pack: RulePack = load_decode(name, text).map_err(|error| error.problems)?;
    let problems = check_pack(&pack, stem);
    if problems.is_empty() {
        Ok(pack)
    } else {
        Err(problems)
    }
}

fn check_pack(pack: &RulePack, stem: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if pack.id != stem {
        problems.push((
            "id".into(),
            format!("`{}` must equal the file name `{stem}`", pack.id),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, rule) in pack.rules.iter().enumerate() {
        let mut problem = |field: &str, message: String| {
            problems.push((format!("rules[{index}].{field}"), message));
        };
        if !seen.insert(rule.id.as_str()) {
            problem("id", format!("duplicate rule id `{}`", rule.id));
        }
        if Action::parse(&rule.action).is_none() {
            problem(
                "action",
                format!("`{}` is not `block`, `redact` or `flag`", rule.action),
            );
        }
        if rule.phases.is_empty() {
            problem("phases", "list at least one phase".into());
        }
        for phase in &rule.phases {
            if parse_phase(phase).is_none() {
                problem("phases", format!("unknown phase `{phase}`"));
            }
        }
        if let Some(name) = &rule.validator
            && Validator::parse(name).is_none()
        {
            problem("validator", format!("unknown validator `{name}`"));
        }
        for (field, model_rule) in [
            ("superseded_by", &rule.superseded_by),
            ("beside", &rule.beside),
        ] {
            if let Some(model_rule) = model_rule
                && !pack
                    .rules
                    .iter()
                    .any(|r| &r.id == model_rule && r.engine == "semantic")
            {
                problem(
                    field,
                    format!("`{model_rule}` is not a `semantic` rule of this pack"),
                );
            }
        }
        match rule.engine.as_str() {
            "regex" => {
                if rule.patterns.is_empty() {
                    problem(
                        "patterns",
                        "a `regex` rule needs at least one pattern".into(),
                    );
                }
                for (pattern_index, pattern) in rule.patterns.iter().enumerate() {
                    if let Err(error) = regex::Regex::new(pattern) {
                        problems.push((
                            format!("rules[{index}].patterns[{pattern_index}]"),
                            error.to_string(),
                        ));
                    }
                }
            }
            "keywords" => {
                if rule.keywords.iter().all(|k| k.trim().is_empty()) {
                    problem(
                        "keywords",
                        "a `keywords` rule needs at least one keyword".into(),
                    );
                }
            }
            "semantic" => match rule.scorer.as_deref().map(builtin_sentence_scorer) {
                None => {
                    if rule.examples.is_empty() {
                        problem(
                            "examples",
                            "a `semantic` rule needs example phrases or a `scorer`".into(),
                        );
                    }
                    if !rule.threshold.is_some_and(|t| t > 0.0 && t <= 1.0) {
                        problem("threshold", "set a similarity threshold in (0, 1]".into());
                    }
                }
                Some(Ok(_)) => {
                    if !rule.examples.is_empty() {
                        problem("examples", "give examples or a `scorer`, not both".into());
                    }
                    if rule.threshold.is_some_and(|t| !(t > 0.0 && t < 1.0)) {
                        problem("threshold", "set a probability in (0, 1)".into());
                    }
                }
                Some(Err(error)) => problem("scorer", error),
            },
            "scorer" => match rule.scorer.as_deref().map(builtin_scorer) {
                Some(Ok(_)) => {
                    if rule.threshold.is_some_and(|t| !(t > 0.0 && t < 1.0)) {
                        problem("threshold", "set a probability in (0, 1)".into());
                    }
                }
                Some(Err(error)) => problem("scorer", error),
                None => problem("scorer", "a `scorer` rule names a scorer".into()),
            },
            "webhook" => {
                match rule.url.as_deref().map(reqwest::Url::parse) {
                    Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => {}
                    Some(_) => problem("url", "must be an http(s) URL".into()),
                    None => problem("url", "a `webhook` rule needs a `url`".into()),
                }
                if let Some(timeout) = &rule.timeout
                    && humantime::parse_duration(timeout).is_err()
                {
                    problem(
                        "timeout",
                        format!("`{timeout}` is not a duration like \"500ms\""),
                    );
                }
                if !matches!(rule.on_error.as_deref(), Some("allow" | "block")) {
                    problem(
                        "on_error",
                        "set `\"allow\"` (fail open) or `\"block\"` (fail closed)".into(),
                    );
                }
            }
            other => problem(
                "engine",
                format!("`{other}` is not `regex`, `keywords`, `semantic`, `scorer` or `webhook`"),
            ),
        }
    }
    problems
}

/// Every problem in the pack files of `dir`, as `switchboard validate` reports them.
pub fn check_dir(dir: &Path, errors: &mut Vec<ConfigError>) {
    for (path, text) in read_toml_dir(dir, errors) {
        let name = path.display().to_string();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if let Err(problems) = decode_and_check(&name, stem, &text) {
            errors.push(ConfigError {
                source_name: name,
                problems,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    fn paths(text: &str) -> Vec<String> {
        match super::decode_and_check("p.toml", "p", text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|(path, _)| path).collect(),
        }
    }

    #[test]
    fn a_rule_is_superseded_by_or_beside_only_a_semantic_rule_of_its_pack() {
        let rule = |id: &str, engine: &str, extra: &str| {
            format!(
                "[[rules]]\nid = \"{id}\"\nengine = \"{engine}\"\nphases = [\"input\"]\naction = \"block\"\n{extra}\n"
            )
        };
        let head = "id = \"p\"\ndescription = \"d\"\n";
        let model = rule("p.model", "semantic", "threshold = 0.7\nexamples = [\"x\"]");
        let other = rule("p.other", "regex", "patterns = [\"y\"]");
        for field in ["superseded_by", "beside"] {
            let problem = format!("rules[0].{field}");
            for (target, problems) in [
                ("p.model", vec![]),
                ("p.other", vec![problem.as_str()]),
                ("q.model", vec![problem.as_str()]),
            ] {
                let naming = rule(
                    "p.r",
                    "regex",
                    &format!("patterns = [\"x\"]\n{field} = \"{target}\""),
                );
                assert_eq!(
                    paths(&format!("{head}{naming}{model}{other}")),
                    problems,
                    "{field} = {target}"
                );
            }
        }
    }

    #[test]
    fn bad_packs_are_reported_with_paths() {
        let head = "id = \"p\"\ndescription = \"d\"\n[[rules]]\nid = \"r\"\nphases = [\"input\"]\n";
        assert_eq!(
            paths(&format!(
                "{head}engine = \"regex\"\naction = \"zap\"\npatterns = [\"(\"]"
            )),
            ["rules[0].action", "rules[0].patterns[0]"]
        );
        assert_eq!(
            paths(&format!(
                "{head}engine = \"webhook\"\naction = \"block\"\nurl = \"ftp://x\""
            )),
            ["rules[0].url", "rules[0].on_error"]
        );
        assert_eq!(
            paths(&format!(
                "{head}engine = \"semantic\"\naction = \"flag\"\nexamples = [\"x\"]\nthreshold = 2.0"
            )),
            ["rules[0].threshold"]
        );
        // A semantic rule's scorer must be a sentence scorer that exists.
        for (scorer, path) in [
            ("nope", "rules[0].scorer"),
            ("injection", "rules[0].scorer"),
        ] {
            assert_eq!(
                paths(&format!(
                    "{head}engine = \"semantic\"\naction = \"flag\"\nscorer = \"{scorer}\""
                )),
                [path]
            );
        }
        assert_eq!(
            paths(&format!(
                "{head}engine = \"semantic\"\naction = \"flag\"\nscorer = \"injection-sentences\"\nexamples = [\"x\"]"
            )),
            ["rules[0].examples"]
        );
        assert_eq!(
            paths(&format!(
                "{head}engine = \"regex\"\naction = \"flag\"\npatterns = [\"x\"]\nvalidator = \"crc\""
            )),
            ["rules[0].validator"]
        );
        assert_eq!(
            paths(&format!(
                "{head}engine = \"regex\"\naction = \"flag\"\npatterns = [\"x\"]\nextra = 1"
            )),
            ["rules[0].extra"]
        );
    }

    #[test]
    fn the_built_in_packs_load() {
        let packs = super::load_packs(None).expect("built-in packs are valid");
        for id in ["pii", "secrets", "injection", "custom-template"] {
            assert!(packs.contains_key(id), "missing pack {id}");
        }
    }
}
