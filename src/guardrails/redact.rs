//! Redaction with typed placeholders (`[EMAIL_1]`), remembered per request so
//! the originals can be put back into the response: the user sees them, the
//! provider never does.

use super::{Action, Finding};
use std::borrow::Cow;

#[derive(Debug, Default, Clone)]
pub struct Redactions {
    /// (placeholder, original), in order of first appearance.
    entries: Vec<(String, String)>,
}

impl Redactions {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `text` with every redact finding replaced by its placeholder. The same
    /// original gets the same placeholder everywhere in the request.
    /// Overlapping findings: the one starting first (then the longest) wins.
    pub fn redact(&mut self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        let mut chosen: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.action == Action::Redact)
            .collect();
        chosen.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        for finding in chosen {
            if finding.start < at {
                continue;
            }
            let (Some(before), Some(original)) = (
                text.get(at..finding.start),
                text.get(finding.start..finding.end),
            ) else {
                continue;
            };
            out.push_str(before);
            out.push_str(&self.placeholder(&finding.label, original));
            at = finding.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The placeholder for `original`, made on first use.
    pub(super) fn placeholder(&mut self, label: &str, original: &str) -> String {
        if let Some((placeholder, _)) = self.entries.iter().find(|(_, o)| o == original) {
            return placeholder.clone();
        }
        let prefix = format!("[{label}_");
        let n = self
            .entries
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .count()
            + 1;
        let placeholder = format!("{prefix}{n}]");
        self.entries
            .push((placeholder.clone(), original.to_owned()));
        placeholder
    }

    /// `text` with placeholders put back to their originals.
    pub fn restore<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.entries.is_empty() || !text.contains('[') {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        // Longest placeholders first, so `[EMAIL_1]` never eats into `[EMAIL_10]`.
        let mut entries: Vec<&(String, String)> = self.entries.iter().collect();
        entries.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (placeholder, original) in entries {
            if out.contains(placeholder.as_str()) {
                out = Cow::Owned(out.replace(placeholder.as_str(), original));
            }
        }
        out
    }

    /// The longest placeholder, so a stream can hold back that many bytes
    /// when a placeholder may be split across chunks.
    pub fn longest_placeholder(&self) -> usize {
        self.entries.iter().map(|(p, _)| p.len()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn finding(label: &str, start: usize, end: usize) -> Finding {
        Finding {
            rule: Arc::from("r"),
            pack: Arc::from("p"),
            action: Action::Redact,
            label: Arc::from(label),
            start,
            end,
            rule_index: 0,
        }
    }

    #[test]
    fn placeholders_are_typed_numbered_and_restored() {
        let mut r = Redactions::default();
        let text = "a@x.io and b@x.io and a@x.io";
        let out = r.redact(
            text,
            &[
                finding("EMAIL", 0, 6),
                finding("EMAIL", 11, 17),
                finding("EMAIL", 22, 28),
            ],
        );
        assert_eq!(out, "[EMAIL_1] and [EMAIL_2] and [EMAIL_1]");
        assert_eq!(r.restore("got [EMAIL_2], [EMAIL_1]"), "got b@x.io, a@x.io");
        let phone = r.redact("call +44 20 7946 0958", &[finding("PHONE", 5, 21)]);
        assert_eq!(phone, "call [PHONE_1]");
        assert_eq!(r.restore("no placeholders"), "no placeholders");
    }

    #[test]
    fn overlapping_findings_redact_once() {
        let mut r = Redactions::default();
        let out = r.redact("xx secret yy", &[finding("A", 3, 9), finding("B", 5, 12)]);
        assert_eq!(out, "xx [A_1] yy");
    }
}
