//! Small JSON helpers: classifying borrowed raw values without building a
//! tree, and writing escaped strings straight into a response buffer.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;

/// A JSON value's type, named the way OpenAI's validation messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Integer,
    Decimal,
    Boolean,
    Object,
    Array,
    Null,
}

impl Kind {
    pub(crate) fn of(raw: &RawValue) -> Kind {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Boolean,
            Some(b'n') | None => Kind::Null,
            Some(_) if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => Kind::Decimal,
            Some(_) => Kind::Integer,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Decimal => "a decimal",
            Kind::Boolean => "a boolean",
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::Null => "null",
        }
    }
}

/// A string that borrows from the request body unless it contains escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// Parses a request body that must be a JSON object into `T`, whose fields
/// are borrowed raw values; anything else gets OpenAI's "could not parse".
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_json());
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_json())
}

/// Deserializes a raw value already known to be well-formed JSON.
pub(crate) fn sub<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, ApiError> {
    serde_json::from_str(raw.get()).map_err(|_| ApiError::bad_json())
}

/// The string a raw value holds, or its kind when it is not a string.
pub(crate) fn string<'a>(raw: &'a RawValue) -> Result<Cow<'a, str>, Kind> {
    match Kind::of(raw) {
        Kind::String => sub::<Str<'a>>(raw).map(|s| s.0).map_err(|_| Kind::String),
        other => Err(other),
    }
}

/// The integer a raw value holds, saturating beyond `i64`, or its kind when
/// it is not an integer.
pub(crate) fn integer(raw: &RawValue) -> Result<i64, Kind> {
    match Kind::of(raw) {
        Kind::Integer => {
            let text = raw.get();
            Ok(text.parse::<i64>().unwrap_or(if text.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }))
        }
        other => Err(other),
    }
}

/// Validates the required `model`, which also selects faults.
pub(crate) fn model(raw: Option<&RawValue>) -> Result<Cow<'_, str>, ApiError> {
    match raw.map(string) {
        None => Err(ApiError::missing_model()),
        Some(Ok(model)) if model.is_empty() => Err(ApiError::missing_model()),
        Some(Ok(model)) => Ok(model),
        Some(Err(kind)) => Err(ApiError::invalid_type("model", "a string", kind)),
    }
}

/// Validates an optional integer parameter against inclusive bounds.
pub(crate) fn bounded_int(
    raw: Option<&RawValue>,
    param: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let value = integer(raw).map_err(|kind| ApiError::invalid_type(param, "an integer", kind))?;
    if value < min {
        return Err(ApiError::below_min(param, min, raw.get()));
    }
    if value > max {
        return Err(ApiError::above_max(param, max, raw.get()));
    }
    Ok(Some(value))
}

/// Validates an optional boolean parameter.
pub(crate) fn boolean(raw: Option<&RawValue>, param: &str) -> Result<Option<bool>, ApiError> {
    match raw.map(|r| (r.get(), r)) {
        None => Ok(None),
        Some(("true", _)) => Ok(Some(true)),
        Some(("false", _)) => Ok(Some(false)),
        Some((_, r)) => Err(ApiError::invalid_type(param, "a boolean", Kind::of(r))),
    }
}

/// Appends `s` as a JSON string literal, quotes included.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Only ASCII bytes are escaped, so `i` is always a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends an unsigned integer in decimal without going through `fmt`.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).expect("valid json")
    }

    #[test]
    fn classifies_values() {
        assert_eq!(Kind::of(&raw("\"x\"")), Kind::String);
        assert_eq!(Kind::of(&raw("12")), Kind::Integer);
        assert_eq!(Kind::of(&raw("-1.5")), Kind::Decimal);
        assert_eq!(Kind::of(&raw("1e3")), Kind::Decimal);
        assert_eq!(Kind::of(&raw("true")), Kind::Boolean);
        assert_eq!(Kind::of(&raw("null")), Kind::Null);
        assert_eq!(integer(&raw("99999999999999999999")), Ok(i64::MAX));
        assert_eq!(integer(&raw("-99999999999999999999")), Ok(i64::MIN));
    }

    #[test]
    fn escapes_strings_like_serde() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\ntab\t",
            "\u{1}ctl",
            "héllo ✓",
            "",
        ] {
            let mut out = String::new();
            push_str(&mut out, s);
            let back: String = serde_json::from_str(&out).expect("round trip");
            assert_eq!(back, s);
        }
        let mut out = String::new();
        for n in [0, 7, 10, 12345, u64::MAX] {
            out.clear();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
}
