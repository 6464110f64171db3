//! `POST /v1/embeddings`: OpenAI's input rules and deterministic,
//! L2-normalized vectors derived from a hash of each input.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::faults::Fault;
use super::json::{self, Kind};
use super::{MockState, json_response};

/// The mock's default width; small so responses stay cheap in benchmarks.
const DEFAULT_DIMENSIONS: i64 = 8;
/// The widest OpenAI embedding model.
const MAX_DIMENSIONS: i64 = 3072;
/// OpenAI's limit on inputs per request.
const MAX_INPUTS: usize = 2048;

#[derive(Deserialize)]
struct RawEmbeddings<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    dimensions: Option<&'a RawValue>,
    #[serde(borrow)]
    encoding_format: Option<&'a RawValue>,
}

/// One validated input, reduced to what the answer needs.
struct Input {
    seed: u64,
    tokens: u64,
}

pub(crate) async fn handle(State(state): State<Arc<MockState>>, req: Request) -> Response {
    match super::authorized_body(&state, req, MockState::count_embedding).await {
        Ok(body) => super::answer(respond(&state, &body).await),
        Err(refused) => refused,
    }
}

async fn respond(state: &MockState, body: &[u8]) -> Result<Response, ApiError> {
    let raw: RawEmbeddings = json::parse_object(body)?;
    let model = json::model(raw.model)?;
    let fault = Fault::from_model(&model);
    if let Some(fault) = fault
        && let Some(resp) = fault.before(state).await
    {
        return Ok(resp);
    }
    let inputs = inputs(raw.input)?;
    let dimensions = json::bounded_int(raw.dimensions, "dimensions", 1, MAX_DIMENSIONS)?
        .unwrap_or(DEFAULT_DIMENSIONS);
    let base64 = match raw.encoding_format.map(|r| (json::string(r), r)) {
        None => false,
        Some((Ok(f), _)) if f == "float" => false,
        Some((Ok(f), _)) if f == "base64" => true,
        Some((Ok(f), _)) => {
            return Err(ApiError::invalid_value(
                "encoding_format",
                &f,
                "'float' and 'base64'",
            ));
        }
        Some((Err(kind), _)) => {
            return Err(ApiError::invalid_type("encoding_format", "a string", kind));
        }
    };
    let body = render(
        &inputs,
        usize::try_from(dimensions).unwrap_or(8),
        base64,
        &model,
    );
    if fault == Some(Fault::Truncate) {
        return Ok(super::faults::truncated(body));
    }
    Ok(json_response(StatusCode::OK, body))
}

/// Validates `input`: a string, an array of strings, an array of token ids,
/// or an array of token-id arrays, none of them empty.
fn inputs(raw: Option<&RawValue>) -> Result<Vec<Input>, ApiError> {
    let Some(raw) = raw else {
        return Err(ApiError::missing("input"));
    };
    match Kind::of(raw) {
        Kind::String => Ok(vec![text_input(raw, &|| "input".to_owned())?]),
        Kind::Array => {
            let items: Vec<&RawValue> = json::sub(raw)?;
            let Some(first) = items.first() else {
                return Err(ApiError::invalid_input());
            };
            if items.len() > MAX_INPUTS {
                return Err(ApiError::array_too_long("input", MAX_INPUTS, items.len()));
            }
            let item_path = |j: usize| move || format!("input[{j}]");
            match Kind::of(first) {
                // A flat array of integers is one tokenized input.
                Kind::Integer => Ok(vec![token_input(&items, &|| "input".to_owned())?]),
                Kind::String => items
                    .iter()
                    .enumerate()
                    .map(|(j, item)| text_input(item, &item_path(j)))
                    .collect(),
                Kind::Array => items
                    .iter()
                    .enumerate()
                    .map(|(j, item)| match Kind::of(item) {
                        Kind::Array => {
                            token_input(&json::sub::<Vec<&RawValue>>(item)?, &item_path(j))
                        }
                        kind => Err(ApiError::invalid_type(&item_path(j)(), "an array", kind)),
                    })
                    .collect(),
                kind => Err(ApiError::invalid_type(
                    "input[0]",
                    "one of a string, integer, or array of integers",
                    kind,
                )),
            }
        }
        kind => Err(ApiError::invalid_type(
            "input",
            "one of a string or array",
            kind,
        )),
    }
}

fn text_input(raw: &RawValue, path: &dyn Fn() -> String) -> Result<Input, ApiError> {
    let text =
        json::string(raw).map_err(|kind| ApiError::invalid_type(&path(), "a string", kind))?;
    if text.is_empty() {
        return Err(ApiError::invalid_input());
    }
    Ok(Input {
        seed: fnv1a(FNV_OFFSET, text.as_bytes()),
        tokens: (text.split_whitespace().count() as u64).max(1),
    })
}

fn token_input(items: &[&RawValue], path: &dyn Fn() -> String) -> Result<Input, ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid_input());
    }
    let mut seed = FNV_OFFSET;
    for (k, item) in items.iter().enumerate() {
        let at = || format!("{}[{k}]", path());
        let token = json::integer(item)
            .map_err(|kind| ApiError::invalid_type(&at(), "an integer", kind))?;
        if token < 0 {
            return Err(ApiError::below_min(&at(), 0, item.get()));
        }
        seed = fnv1a(seed, &token.to_le_bytes());
    }
    Ok(Input {
        seed,
        tokens: items.len() as u64,
    })
}

fn render(inputs: &[Input], dims: usize, base64: bool, model: &str) -> String {
    let per_value = if base64 { 6 } else { 12 };
    let mut out = String::with_capacity(128 + model.len() + inputs.len() * (64 + dims * per_value));
    let mut vector = Vec::with_capacity(dims);
    let mut raw = Vec::with_capacity(if base64 { dims * 4 } else { 0 });
    out.push_str("{\"object\":\"list\",\"data\":[");
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"object\":\"embedding\",\"index\":");
        json::push_u64(&mut out, i as u64);
        out.push_str(",\"embedding\":");
        embed(input.seed, dims, &mut vector);
        if base64 {
            raw.clear();
            raw.extend(vector.iter().flat_map(|v| v.to_le_bytes()));
            out.push('"');
            push_base64(&mut out, &raw);
            out.push('"');
        } else {
            out.push('[');
            for (j, v) in vector.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                // Display prints the shortest form that round-trips, never
                // with an exponent, which is valid JSON.
                use std::fmt::Write;
                let _ = write!(out, "{v}");
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push_str("],\"model\":");
    json::push_str(&mut out, model);
    let tokens: u64 = inputs.iter().map(|i| i.tokens).sum();
    out.push_str(",\"usage\":{\"prompt_tokens\":");
    json::push_u64(&mut out, tokens);
    out.push_str(",\"total_tokens\":");
    json::push_u64(&mut out, tokens);
    out.push_str("}}");
    out
}

/// Fills `out` with `dims` values from a seeded generator, then scales them
/// to unit length as OpenAI's embeddings are.
fn embed(seed: u64, dims: usize, out: &mut Vec<f32>) {
    out.clear();
    let mut state = seed;
    for _ in 0..dims {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 24 random bits map exactly onto f32's mantissa, in [-1, 1).
        out.push((z >> 40) as f32 / (1u32 << 23) as f32 - 1.0);
    }
    let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        out.iter_mut().for_each(|v| *v /= norm);
    } else if let Some(first) = out.first_mut() {
        *first = 1.0;
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn push_base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            push_base64(&mut out, input.as_bytes());
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        embed(42, 64, &mut a);
        embed(42, 64, &mut b);
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        embed(43, 64, &mut b);
        assert_ne!(a, b);
    }
}
