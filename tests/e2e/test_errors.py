"""Failures reach SDK users as the SDK's typed exceptions, with OpenAI's
error body, whether the gateway or the upstream found the problem."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import MESSAGES, assert_error_body, assert_error_response, names

ALPHA = {"authorization": "Bearer sk-alpha-test"}
JSON = {"content-type": "application/json"}


def sdk_error(excinfo, status: int) -> dict:
    """Checks a typed SDK exception's status and body; returns the error object."""
    err = excinfo.value
    assert err.status_code == status, f"expected {status}, got {err.status_code}: {err.body!r}"
    assert err.response.headers.get("x-request-id")
    return assert_error_body(err.response.json(), status)


def test_wrong_key_is_authentication_error(gateway_sdk):
    with pytest.raises(openai.AuthenticationError) as excinfo:
        gateway_sdk("sk-not-a-real-key").chat.completions.create(model="fast", messages=MESSAGES)
    error = sdk_error(excinfo, 401)
    assert "sk-not-a-real-key" not in json.dumps(error), "never echo a presented key whole"


def test_unknown_model_is_not_found(alpha):
    with pytest.raises(openai.NotFoundError) as excinfo:
        alpha.chat.completions.create(model="nope/nothing", messages=MESSAGES)
    error = sdk_error(excinfo, 404)
    assert error["code"] == "model_not_found"
    assert excinfo.value.code == "model_not_found"


def test_team_without_access_is_permission_denied(beta):
    with pytest.raises(openai.PermissionDeniedError) as excinfo:
        beta.chat.completions.create(model="fast", messages=MESSAGES)
    sdk_error(excinfo, 403)


def test_messages_of_wrong_type_is_bad_request(alpha):
    with pytest.raises(openai.BadRequestError) as excinfo:
        alpha.chat.completions.create(model="fast", messages=MESSAGES, extra_body={"messages": "hi"})
    error = sdk_error(excinfo, 400)
    assert names(error, "messages"), error


def test_missing_model_is_bad_request(alpha):
    with pytest.raises(openai.BadRequestError) as excinfo:
        alpha.post("/chat/completions", body={"messages": MESSAGES}, cast_to=object)
    error = sdk_error(excinfo, 400)
    assert names(error, "model"), error


@pytest.mark.parametrize("model", ["openai/fault-500", "openai/fault-503", "openai/fault-malformed"])
def test_upstream_failures_become_502(alpha, model):
    with pytest.raises(openai.APIStatusError) as excinfo:
        alpha.chat.completions.create(model=model, messages=MESSAGES)
    sdk_error(excinfo, 502)


def test_upstream_client_error_passes_through(alpha):
    with pytest.raises(openai.BadRequestError) as excinfo:
        alpha.chat.completions.create(model="openai/fault-400", messages=MESSAGES)
    error = sdk_error(excinfo, 400)
    # The mock upstream's own body, unchanged.
    assert error["param"] == "messages"
    assert error["code"] == "string_above_max_length"
    assert excinfo.value.param == "messages"


def test_truncated_upstream_stream_raises_while_iterating(alpha):
    stream = alpha.chat.completions.create(model="openai/fault-truncate", messages=MESSAGES, stream=True)
    received = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            for choice in chunk.choices:
                received += choice.delta.content or ""
    assert received == "Echo: Say", "the two chunks sent before the cut arrive first"


def big_body() -> bytes:
    filler = "x" * (1024 * 1024 + 1)
    return json.dumps({"model": "fast", "messages": [{"role": "user", "content": filler}]}).encode()


# (case id, request headers, raw body, expected status, field the error must name)
RAW_CASES = [
    ("no-key", JSON, json.dumps({"model": "fast", "messages": MESSAGES}).encode(), 401, None),
    ("bad-key-api-key-header", {**JSON, "api-key": "sk-nope"}, b'{"model":"fast","messages":[]}', 401, None),
    ("malformed-json", {**ALPHA, **JSON}, b'{"model": "fast", "messages": [', 400, None),
    ("invalid-utf8", {**ALPHA, **JSON}, b'{"model":"fast","messages":[{"role":"user","content":"\xff\xfe"}]}', 400, None),
    ("not-an-object", {**ALPHA, **JSON}, b"[]", 400, None),
    ("empty-body", {**ALPHA, **JSON}, b"", 400, None),
    ("missing-model", {**ALPHA, **JSON}, json.dumps({"messages": MESSAGES}).encode(), 400, "model"),
    ("messages-string", {**ALPHA, **JSON}, b'{"model":"fast","messages":"hi"}', 400, "messages"),
    ("too-large", {**ALPHA, **JSON}, big_body(), 413, None),
]


@pytest.mark.parametrize("headers,body,status,field", [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_raw_error_responses(http, headers, body, status, field):
    check(http, headers, body, status, field)


def check(http, headers: dict, body: bytes, status: int, field: str | None) -> None:
    resp = http.post("/v1/chat/completions", content=body, headers=headers)
    error = assert_error_response(resp, status)
    if field is not None:
        assert names(error, field), error


def test_unknown_route_is_json_error(http):
    resp = http.get("/v1/definitely-not-a-route", headers=ALPHA)
    assert_error_response(resp, 404)
