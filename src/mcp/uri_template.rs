//! Whether a URI is one a resource template (RFC 6570) could expand to, so
//! a read of a URI no server lists goes to the server whose template it fits.
//!
//! Matching is by shape, not by expanding: a simple `{var}` stands for one
//! or more characters up to the next `/`, `?` or `#`; a reserved `{+var}` or
//! fragment `{#var}` for any characters; a query `{?a,b}` or continuation
//! `{&a}` for the rest of the URI from its `?` or `&` on (or nothing).

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// One expression; `across_slashes` for `+` and `#`.
    Value {
        across_slashes: bool,
    },
    /// `{?...}` or `{&...}`: optional, introduced by this character.
    Query(char),
}

#[derive(Debug)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    pub fn parse(template: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let expression = &rest[open + 1..close];
            parts.push(match expression.chars().next() {
                Some(c @ ('?' | '&')) => Part::Query(c),
                Some('+' | '#') => Part::Value {
                    across_slashes: true,
                },
                _ => Part::Value {
                    across_slashes: false,
                },
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Self { parts }
    }

    pub fn matches(&self, uri: &str) -> bool {
        matches_from(&self.parts, uri)
    }
}

fn matches_from(parts: &[Part], uri: &str) -> bool {
    let Some((part, rest)) = parts.split_first() else {
        return uri.is_empty();
    };
    match part {
        Part::Literal(literal) => uri
            .strip_prefix(literal.as_str())
            .is_some_and(|uri| matches_from(rest, uri)),
        Part::Query(introducer) => {
            // Absent, or everything from its introducer on.
            matches_from(rest, uri) || (uri.starts_with(*introducer) && rest.is_empty())
        }
        Part::Value { across_slashes } => {
            // Try every non-empty prefix the expression may cover.
            let stop = |c: char| !across_slashes && matches!(c, '/' | '?' | '#');
            let end = uri.find(stop).unwrap_or(uri.len());
            uri.char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take_while(|&i| i <= end)
                .any(|i| matches_from(rest, &uri[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UriTemplate;

    fn fits(template: &str, uri: &str) -> bool {
        UriTemplate::parse(template).matches(uri)
    }

    #[test]
    fn simple_expressions_cover_one_segment() {
        let template = "demo://resource/dynamic/text/{resourceId}";
        assert!(fits(template, "demo://resource/dynamic/text/5"));
        assert!(fits(template, "demo://resource/dynamic/text/abc"));
        assert!(!fits(template, "demo://resource/dynamic/text/"));
        assert!(!fits(template, "demo://resource/dynamic/text/5/6"));
        assert!(!fits(template, "demo://resource/dynamic/blob/5"));
        assert!(fits("file:///{dir}/{name}.txt", "file:///docs/readme.txt"));
        assert!(!fits("file:///{dir}/{name}.txt", "file:///docs/readme.md"));
    }

    #[test]
    fn reserved_expressions_cross_slashes() {
        assert!(fits("file:///{+path}", "file:///a/b/c.txt"));
        assert!(!fits("file:///{path}", "file:///a/b/c.txt"));
    }

    #[test]
    fn query_expressions_are_optional() {
        assert!(fits("search://{q}{?limit}", "search://rust"));
        assert!(fits("search://{q}{?limit}", "search://rust?limit=5"));
        assert!(!fits("search://{q}{?limit}", "other://rust"));
    }

    #[test]
    fn a_template_without_expressions_is_a_literal() {
        assert!(fits("test://static", "test://static"));
        assert!(!fits("test://static", "test://static/x"));
    }
}
