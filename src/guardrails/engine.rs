//! The rule engine: every pattern of every bound rule compiled once into one
//! `RegexSet`, every keyword into one Aho-Corasick automaton, so a text is
//! scanned in one pass whatever the number of rules. Only the patterns the
//! set reports are run again, to find spans and apply validators.

use super::encoder::SemanticModels;
use super::pack::{Action, RulePack, parse_phase};
use super::scorer::TextScorer;
use super::semantic::{Meaning, SemanticRules};
use super::validators::Validator;
use super::webhook::WebhookRule;
use super::{Decision, Finding};
use crate::guardrails::Phase;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};
use std::collections::HashMap;
use std::sync::Arc;

/// A set of phases as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases(u8);

impl Phases {
    pub const ALL: Self = Self(0b1111);

    fn bit(phase: Phase) -> u8 {
        match phase {
            Phase::Input => 1,
            Phase::Output => 2,
            Phase::ToolArguments => 4,
            Phase::ToolResult => 8,
        }
    }

    pub fn of(phases: impl IntoIterator<Item = Phase>) -> Self {
        Self(phases.into_iter().fold(0, |bits, p| bits | Self::bit(p)))
    }

    pub fn contains(self, phase: Phase) -> bool {
        self.0 & Self::bit(phase) != 0
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

/// How a rule is bound to a model rule of its pack (`superseded_by` or
/// `beside`).
#[derive(Debug, Clone, Copy)]
enum Bond {
    SupersededBy,
    Beside,
}

/// How a binding changes the rules it takes from packs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// One action for every rule.
    pub action: Option<Action>,
    /// Actions by rule id; wins over `action`.
    pub actions: HashMap<String, Action>,
    /// Only these phases (intersected with each rule's own).
    pub phases: Option<Phases>,
    /// Rule ids to leave out.
    pub disabled: Vec<String>,
}

/// A rule as the engine runs it.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: Arc<str>,
    pub pack: Arc<str>,
    pub action: Action,
    pub phases: Phases,
    /// Placeholder type for redaction.
    pub label: Arc<str>,
    validator: Option<Validator>,
}

struct Pattern {
    rule: usize,
    regex: Regex,
    /// The pattern has a group named `m` that narrows the match.
    narrowed: bool,
}

/// Compiled rules of one binding. Cheap to share; checking allocates only
/// for what it finds.
pub struct Engine {
    rules: Vec<CompiledRule>,
    set: RegexSet,
    patterns: Vec<Pattern>,
    keywords: Option<AhoCorasick>,
    keyword_rule: Vec<usize>,
    pub(super) semantic: Option<SemanticRules>,
    pub(super) webhooks: Vec<WebhookRule>,
    /// Learned scorers, each with the rules that read it (rule index,
    /// threshold): rules naming one scorer share its pass over a text.
    scorers: Vec<(TextScorer, Vec<(usize, f32)>)>,
    phases: Phases,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// A `semantic` rule as run: its examples, or the sentence scorer it names
/// (with the scorer's own threshold unless the rule sets one). `None` when
/// the scorer's encoder is not there: the rule is off, like every semantic
/// rule without a model.
fn semantic_rule(
    index: usize,
    rule: &super::pack::Rule,
    models: &SemanticModels,
) -> Result<Option<(usize, Meaning, f32)>, String> {
    // Rules on sentences need the shared model: asking loads it.
    let Some(name) = rule.scorer.as_deref() else {
        if models.shared().is_none() {
            return Ok(None);
        }
        let examples = Meaning::Examples(rule.examples.clone());
        return Ok(Some((index, examples, rule.threshold.unwrap_or(0.8))));
    };
    let scorer = super::pack::builtin_sentence_scorer(name)
        .map_err(|e| format!("rule `{}`: {e}", rule.id))?;
    let threshold = rule.threshold.unwrap_or(scorer.threshold);
    let meaning = match scorer.encoder.as_deref() {
        None if models.shared().is_none() => return Ok(None),
        None => Meaning::Scorer(Arc::new(scorer)),
        Some(file) => match models.encoder(file) {
            Some(encoder) => Meaning::Encoded(Arc::new(scorer), encoder),
            None => return Ok(None),
        },
    };
    Ok(Some((index, meaning, threshold)))
}

impl Engine {
    /// Compile the rules of `packs`. Semantic rules run only when an
    /// embedding service is given; without one they are left out.
    pub fn build(
        packs: &[&RulePack],
        overrides: &Overrides,
        models: Option<SemanticModels>,
        http: Option<&reqwest::Client>,
    ) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut sources = Vec::new();
        let mut patterns = Vec::new();
        let mut keywords = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut semantic = Vec::new();
        let mut webhooks = Vec::new();
        let mut scorers: Vec<(TextScorer, Vec<(usize, f32)>)> = Vec::new();
        // The name of each of `scorers`.
        let mut scorer_names: Vec<&str> = Vec::new();
        // (rule index, a model rule it is bound to, superseded by it or
        // beside it)
        let mut bound: Vec<(usize, &str, Bond)> = Vec::new();
        for pack in packs {
            let pack_id: Arc<str> = Arc::from(pack.id.as_str());
            for rule in &pack.rules {
                if overrides.disabled.contains(&rule.id) {
                    continue;
                }
                let own = Phases::of(rule.phases.iter().filter_map(|p| parse_phase(p)));
                let phases = overrides.phases.map_or(own, |only| own.intersect(only));
                if phases == Phases::default() {
                    continue;
                }
                let action = overrides
                    .actions
                    .get(&rule.id)
                    .copied()
                    .or(overrides.action)
                    .or_else(|| Action::parse(&rule.action))
                    .ok_or_else(|| {
                        format!("rule `{}`: unknown action `{}`", rule.id, rule.action)
                    })?;
                let label = rule.label.clone().unwrap_or_else(|| {
                    rule.id
                        .rsplit('.')
                        .next()
                        .unwrap_or(&rule.id)
                        .to_ascii_uppercase()
                        .replace('-', "_")
                });
                let validator = match &rule.validator {
                    Some(name) => Some(Validator::parse(name).ok_or_else(|| {
                        format!("rule `{}`: unknown validator `{name}`", rule.id)
                    })?),
                    None => None,
                };
                let index = rules.len();
                if let Some(model_rule) = &rule.superseded_by {
                    bound.push((index, model_rule.as_str(), Bond::SupersededBy));
                }
                if let Some(model_rule) = &rule.beside {
                    bound.push((index, model_rule.as_str(), Bond::Beside));
                }
                rules.push(CompiledRule {
                    id: Arc::from(rule.id.as_str()),
                    pack: pack_id.clone(),
                    action,
                    phases,
                    label: Arc::from(label),
                    validator,
                });
                match rule.engine.as_str() {
                    "regex" => {
                        for source in &rule.patterns {
                            let regex = Regex::new(source)
                                .map_err(|e| format!("rule `{}`: {e}", rule.id))?;
                            let narrowed = regex.capture_names().any(|n| n == Some("m"));
                            sources.push(source.clone());
                            patterns.push(Pattern {
                                rule: index,
                                regex,
                                narrowed,
                            });
                        }
                    }
                    "keywords" => {
                        for keyword in rule.keywords.iter().filter(|k| !k.trim().is_empty()) {
                            keywords.push(keyword.trim().to_owned());
                            keyword_rule.push(index);
                        }
                    }
                    "semantic" => {
                        if let Some(models) = &models {
                            semantic.extend(semantic_rule(index, rule, models)?);
                        }
                    }
                    "scorer" => {
                        let name = rule.scorer.as_deref().unwrap_or_default();
                        let at = match scorer_names.iter().position(|known| *known == name) {
                            Some(at) => at,
                            None => {
                                let scorer = super::pack::builtin_scorer(name)
                                    .map_err(|e| format!("rule `{}`: {e}", rule.id))?;
                                scorers.push((scorer, Vec::new()));
                                scorer_names.push(name);
                                scorers.len() - 1
                            }
                        };
                        let (scorer, rules) = &mut scorers[at];
                        rules.push((index, rule.threshold.unwrap_or(scorer.threshold)));
                    }
                    "webhook" => {
                        let client = http.ok_or_else(|| {
                            format!("rule `{}`: webhooks need an HTTP client", rule.id)
                        })?;
                        webhooks.push(WebhookRule::new(index, rule, client.clone())?);
                    }
                    other => return Err(format!("rule `{}`: unknown engine `{other}`", rule.id)),
                }
            }
        }
        // A superseded rule stands in for its model rule only in the phases
        // where that rule does not run: it is off (no model, disabled), or
        // the phase is not one of its own. A rule beside a model rule runs
        // only where that rule runs, and nowhere when it is off.
        for (index, model_rule, bond) in bound {
            let model_phases = semantic
                .iter()
                .find(|(model_index, _, _)| &*rules[*model_index].id == model_rule)
                .map(|(model_index, _, _)| rules[*model_index].phases);
            let own = rules[index].phases;
            rules[index].phases = match (bond, model_phases) {
                (Bond::SupersededBy, Some(model)) => own.without(model),
                (Bond::SupersededBy, None) => own,
                (Bond::Beside, Some(model)) => own.intersect(model),
                (Bond::Beside, None) => Phases::default(),
            };
        }
        let set = RegexSetBuilder::new(&sources)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        let keywords = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&keywords)
                    .map_err(|e| e.to_string())?,
            )
        };
        let semantic = match models {
            Some(models) if !semantic.is_empty() => {
                let on_sentences = semantic
                    .iter()
                    .any(|(_, meaning, _)| !matches!(meaning, Meaning::Encoded(..)));
                let shared = if on_sentences { models.shared() } else { None };
                Some(SemanticRules::new(shared, semantic))
            }
            _ => None,
        };
        let phases = Phases(rules.iter().fold(0, |bits, r| bits | r.phases.0));
        Ok(Self {
            rules,
            set,
            patterns,
            keywords,
            keyword_rule,
            semantic,
            webhooks,
            scorers,
            phases,
        })
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn rule(&self, index: usize) -> &CompiledRule {
        &self.rules[index]
    }

    /// Whether any rule applies in `phase` (webhooks included).
    pub fn covers(&self, phase: Phase) -> bool {
        self.phases.contains(phase)
    }

    /// Whether any rule that needs waiting (semantic, webhook) applies in `phase`.
    pub fn has_async_rules(&self, phase: Phase) -> bool {
        self.has_semantic(phase) || self.has_remote(phase)
    }

    /// The rules that need waiting over `text` in `phase`: semantic rules
    /// (on the embedding thread) and webhooks, concurrently.
    pub async fn check_async(&self, phase: Phase, text: &str) -> Decision {
        let (mut decision, remote) = futures::future::join(
            self.check_semantic(phase, text),
            self.check_remote(phase, text),
        )
        .await;
        decision.merge(remote);
        decision
    }

    /// The pattern and keyword rules over `text` in `phase`, in one pass, on
    /// the caller's thread (microseconds). Semantic and webhook rules need
    /// waiting: see [`Engine::check_async`].
    pub fn check(&self, phase: Phase, text: &str) -> Decision {
        let mut decision = Decision::default();
        if !self.covers(phase) || text.is_empty() {
            return decision;
        }
        for index in self.set.matches(text).iter() {
            let pattern = &self.patterns[index];
            let rule = &self.rules[pattern.rule];
            if !rule.phases.contains(phase) {
                continue;
            }
            let mut push = |start: usize, end: usize| {
                if start < end && rule.validator.is_none_or(|v| v.accepts(text, start, end)) {
                    decision
                        .findings
                        .push(Finding::new(pattern.rule, rule, start, end));
                }
            };
            if pattern.narrowed {
                for captures in pattern.regex.captures_iter(text) {
                    if let Some(m) = captures.name("m").or_else(|| captures.get(0)) {
                        push(m.start(), m.end());
                    }
                }
            } else {
                for m in pattern.regex.find_iter(text) {
                    push(m.start(), m.end());
                }
            }
        }
        // Each scorer reads the text once, however many of its rules (with
        // their thresholds) run in this phase.
        for (scorer, rules) in &self.scorers {
            let runs = |&&(index, _): &&(usize, f32)| self.rules[index].phases.contains(phase);
            let highest = rules.iter().filter(runs).map(|&(_, t)| t).reduce(f32::max);
            let Some(enough) = highest else { continue };
            let scored = scorer.scored_pieces(text, phase, enough);
            for &(index, threshold) in rules.iter().filter(runs) {
                let rule = &self.rules[index];
                for &(start, end, probability) in &scored {
                    if probability >= threshold {
                        decision
                            .findings
                            .push(Finding::new(index, rule, start, end));
                    }
                }
            }
        }
        if let Some(keywords) = &self.keywords {
            for m in keywords.find_iter(text) {
                let index = self.keyword_rule[m.pattern().as_usize()];
                let rule = &self.rules[index];
                if rule.phases.contains(phase) && on_word_boundaries(text, m.start(), m.end()) {
                    decision
                        .findings
                        .push(Finding::new(index, rule, m.start(), m.end()));
                }
            }
        }
        decision
            .findings
            .sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        decision
    }
}

fn on_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    !word(text[..start].chars().next_back()) && !word(text[end..].chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::pack::load_packs;

    fn engine(packs: &[&str]) -> Engine {
        let all = load_packs(None).unwrap();
        let chosen: Vec<&RulePack> = packs.iter().map(|id| &all[*id]).collect();
        Engine::build(&chosen, &Overrides::default(), None, None).unwrap()
    }

    /// The rule ids that fire on `text` in `phase`, in order of position.
    fn check(engine: &Engine, phase: Phase, text: &str, expected: &[&str]) {
        let decision = engine.check(phase, text);
        let ids: Vec<&str> = decision.findings.iter().map(|f| &*f.rule).collect();
        assert_eq!(ids, expected, "{text}");
    }

    #[test]
    fn pii_rules_find_spans_and_respect_validators() {
        let e = engine(&["pii"]);
        check(
            &e,
            Phase::Input,
            "mail jane.doe@acme.io today",
            &["pii.email"],
        );
        check(&e, Phase::Input, "mail user@example.com today", &[]);
        check(
            &e,
            Phase::Input,
            "card 4111 1111 1111 1111 ok",
            &["pii.card"],
        );
        check(&e, Phase::Input, "order 4111 1111 1111 1112 ok", &[]);
        let text = "write to jane.doe@acme.io";
        let finding = &e.check(Phase::Input, text).findings[0];
        assert_eq!(&text[finding.start..finding.end], "jane.doe@acme.io");
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let e = engine(&["custom-template"]);
        check(&e, Phase::Input, "news on Project  Bluebird", &[]);
        check(
            &e,
            Phase::Input,
            "news on PROJECT BLUEBIRD.",
            &["custom.codenames"],
        );
        check(&e, Phase::Input, "news on project bluebirds", &[]);
        check(&e, Phase::ToolResult, "project bluebird", &[]);
    }

    #[test]
    fn overrides_change_actions_and_phases() {
        let all = load_packs(None).unwrap();
        let overrides = Overrides {
            action: Some(Action::Flag),
            phases: Some(Phases::of([Phase::Output])),
            ..Overrides::default()
        };
        let e = Engine::build(&[&all["pii"]], &overrides, None, None).unwrap();
        assert!(
            e.check(Phase::Input, "jane.doe@acme.io")
                .findings
                .is_empty()
        );
        let decision = e.check(Phase::Output, "jane.doe@acme.io");
        assert_eq!(decision.findings[0].action, Action::Flag);
    }

    #[test]
    fn rules_on_one_scorer_share_it_and_keep_their_thresholds() {
        let rule = |id: &str, threshold: f32| {
            format!(
                "[[rules]]\nid = \"t.{id}\"\nengine = \"scorer\"\nphases = [\"input\"]\naction = \"block\"\nscorer = \"injection\"\nthreshold = {threshold}\n"
            )
        };
        let text = format!(
            "id = \"t\"\ndescription = \"test\"\n{}{}",
            rule("low", 0.001),
            rule("high", 0.999)
        );
        let pack = crate::guardrails::pack::decode_and_check("t.toml", "t", &text).unwrap();
        let e = Engine::build(&[&pack], &Overrides::default(), None, None).unwrap();
        assert_eq!(e.scorers.len(), 1, "one scorer for both rules");
        assert_eq!(e.scorers[0].1.len(), 2);
        check(&e, Phase::Input, "The report is attached.", &["t.low"]);
        check(&e, Phase::Output, "The report is attached.", &[]);
    }
}
