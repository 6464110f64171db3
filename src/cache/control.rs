//! The request's `Cache-Control` header, as HTTP means it: `no-cache` (or
//! `max-age=0`) = do not answer from the cache, `no-store` = do not store the
//! answer, `only-if-cached` = answer from the cache or fail with 504.

use http::HeaderMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    pub no_read: bool,
    pub no_store: bool,
    pub only_if_cached: bool,
}

pub fn parse(headers: &HeaderMap) -> Control {
    let mut control = Control::default();
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive.as_str(), None),
            };
            match (name, argument) {
                ("no-cache", _) => control.no_read = true,
                ("max-age", Some("0")) => control.no_read = true,
                ("no-store", _) => control.no_store = true,
                ("only-if-cached", _) => control.only_if_cached = true,
                _ => {}
            }
        }
    }
    control
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: Control) {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CACHE_CONTROL, value.parse().unwrap());
        assert_eq!(parse(&headers), expected, "{value}");
    }

    #[test]
    fn directives() {
        let none = Control::default();
        let read = Control {
            no_read: true,
            ..none
        };
        let store = Control {
            no_store: true,
            ..none
        };
        let only = Control {
            only_if_cached: true,
            ..none
        };
        check("no-cache", read);
        check("max-age=0", read);
        check("max-age=60", none);
        check("No-Store", store);
        check("only-if-cached", only);
        check(
            " no-cache , no-store ",
            Control {
                no_read: true,
                no_store: true,
                ..none
            },
        );
        check("private, must-revalidate", none);
        assert_eq!(parse(&HeaderMap::new()), none);
    }
}
