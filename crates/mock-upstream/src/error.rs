//! OpenAI's error body, `{"error":{"message","type","param","code"}}`, and
//! the wording OpenAI uses for each validation failure.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::json::Kind;

/// OpenAI's exact answer to a body that is not JSON.
const BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely \
means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but \
what was sent was not valid JSON. If you have trouble figuring out how to fix this, please \
contact us through our help center at help.openai.com.)";

/// OpenAI's exact answer to a request without a bearer token.
const NO_API_KEY: &str = "You didn't provide an API key. You need to provide your API key in an \
Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password \
field (with blank username) if you're accessing the API from your browser and are prompted for a \
username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    kind: &'static str,
    param: Option<Cow<'static, str>>,
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        message: Cow<'static, str>,
        kind: &'static str,
        param: Option<Cow<'static, str>>,
        code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message,
            kind,
            param,
            code,
        }
    }

    /// A 400 `invalid_request_error` naming `param`.
    fn invalid(message: String, param: &str, code: Option<&'static str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message.into(),
            "invalid_request_error",
            Some(param.to_owned().into()),
            code,
        )
    }

    pub(crate) fn bad_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            BAD_JSON.into(),
            "invalid_request_error",
            None,
            None,
        )
    }

    pub(crate) fn no_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            NO_API_KEY.into(),
            "invalid_request_error",
            None,
            None,
        )
    }

    /// OpenAI echoes a masked form of the rejected key.
    pub(crate) fn incorrect_api_key(key: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Incorrect API key provided: {}. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                mask_key(key)
            )
            .into(),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )
    }

    /// OpenAI does not set `param` for this one; the message names the field.
    pub(crate) fn missing_model() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter".into(),
            "invalid_request_error",
            None,
            None,
        )
    }

    pub(crate) fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it.").into(),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        )
    }

    pub(crate) fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            param,
            Some("missing_required_parameter"),
        )
    }

    pub(crate) fn invalid_type(param: &str, expected: &str, got: Kind) -> Self {
        Self::invalid(
            format!(
                "Invalid type for '{param}': expected {expected}, but got {} instead.",
                got.describe()
            ),
            param,
            Some("invalid_type"),
        )
    }

    pub(crate) fn empty_array(param: &str) -> Self {
        Self::invalid(
            format!(
                "Invalid '{param}': empty array. Expected an array with minimum length 1, \
                 but got an empty array instead."
            ),
            param,
            Some("empty_array"),
        )
    }

    pub(crate) fn array_too_long(param: &str, max: usize, got: usize) -> Self {
        Self::invalid(
            format!(
                "Invalid '{param}': array too long. Expected an array with maximum length \
                 {max}, but got an array with length {got} instead."
            ),
            param,
            Some("array_above_max_length"),
        )
    }

    pub(crate) fn below_min(param: &str, min: i64, got: &str) -> Self {
        Self::invalid(
            format!(
                "Invalid '{param}': integer below minimum value. Expected a value >= {min}, \
                 but got {got} instead."
            ),
            param,
            Some("integer_below_min_value"),
        )
    }

    pub(crate) fn above_max(param: &str, max: i64, got: &str) -> Self {
        Self::invalid(
            format!(
                "Invalid '{param}': integer above maximum value. Expected a value <= {max}, \
                 but got {got} instead."
            ),
            param,
            Some("integer_above_max_value"),
        )
    }

    pub(crate) fn invalid_value(param: &str, got: &str, supported: &str) -> Self {
        Self::invalid(
            format!("Invalid value: '{got}'. Supported values are: {supported}."),
            param,
            Some("invalid_value"),
        )
    }

    /// The legacy wording OpenAI still uses for an empty embeddings input.
    pub(crate) fn invalid_input() -> Self {
        Self::invalid(
            "'$.input' is invalid. Please check the API reference: \
             https://platform.openai.com/docs/api-reference."
                .to_owned(),
            "input",
            None,
        )
    }

    pub(crate) fn stream_options_without_stream() -> Self {
        Self::invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".to_owned(),
            "stream_options",
            None,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let envelope = Envelope {
            error: Inner {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        let body = serde_json::to_vec(&envelope).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_vec()
        });
        super::json_response(self.status, body)
    }
}

/// Masks a key the way OpenAI does: a short prefix, stars, the last four.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let (head, tail) = if chars.len() > 10 {
        (3, 4)
    } else {
        (2.min(chars.len()), 0)
    };
    let mut out = String::with_capacity(key.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_key;

    #[test]
    fn masks_keys_without_revealing_them() {
        assert_eq!(mask_key("sk-wrong-key-1234"), "sk-**********1234");
        assert_eq!(mask_key("short"), "sh***");
        assert_eq!(mask_key(""), "");
        assert_eq!(mask_key("é"), "é");
    }
}
