"""Constants and assertions shared by the end-to-end tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx
import pytest

UPSTREAM_KEY = "sk-upstream-test"
ALPHA_KEY = "sk-alpha-test"
BETA_KEY = "sk-beta-test"
# Generous enough for a debug build on a loaded two-core machine, short
# enough that a hung gateway fails one test instead of stalling the run.
CLIENT_TIMEOUT_S = 20

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the gateway please"},
]
# What the mock upstream answers to MESSAGES: it echoes the last user turn.
ECHOED = "Echo: Say hello to the gateway please"


def in_ci() -> bool:
    """Whether this run is CI's (`CI` set and not `false`/`0`), where a missing
    dependency is a failure rather than a skip (as in tests/gateway/harness.rs)."""
    return os.environ.get("CI", "") not in ("", "0", "false")


def missing_dependency(what: str, how: str) -> None:
    """A test's external dependency is missing: under CI this fails the test;
    elsewhere it is skipped, with the reason in pytest's summary."""
    if in_ci():
        pytest.fail(f"{what} is missing under CI ({how}): this test must not skip", pytrace=False)
    pytest.skip(f"{what} is missing ({how}); under CI this fails")


def require_env(var: str, how: str) -> str:
    """The value of `var`; when it is unset or empty, `missing_dependency`."""
    value = os.environ.get(var, "")
    if not value:
        missing_dependency(f"${var}", how)
    return value


def assert_error_body(body: object, status: int) -> dict:
    """Checks OpenAI's error shape, {"error": {"message", "type", "param",
    "code"}}, and returns the inner object."""
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"{status}: {body!r}"
    error = body["error"]
    missing = {"message", "type", "param", "code"} - error.keys()
    assert not missing, f"error body lacks {missing}: {body!r}"
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["type"], str) and error["type"], body
    return error


def assert_error_response(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    assert resp.headers.get("x-request-id"), "error responses carry x-request-id too"
    return assert_error_body(resp.json(), status)


def names(error: dict, field_name: str) -> bool:
    """Whether an error points at `field_name`, by `param` or in its message."""
    return error.get("param") == field_name or field_name in str(error.get("message"))


@dataclass
class Streamed:
    """What a chat stream said, reduced to what must match across routes."""

    content: str = ""
    finish_reason: str | None = None
    usage: dict | None = None
    usage_chunks: int = 0
    chunks: int = 0
    roles: list[str] = field(default_factory=list)
    usage_chunk_was_last: bool = True


def collect(stream) -> Streamed:
    out = Streamed()
    for chunk in stream:
        out.chunks += 1
        if out.usage_chunks:
            out.usage_chunk_was_last = False
        if chunk.usage is not None:
            out.usage_chunks += 1
            out.usage = usage_of(chunk)
            assert chunk.choices == [], "the usage chunk has no choices"
        for choice in chunk.choices:
            assert choice.index == 0
            if choice.delta.role:
                out.roles.append(choice.delta.role)
            out.content += choice.delta.content or ""
            if choice.finish_reason:
                out.finish_reason = choice.finish_reason
    return out


def usage_of(completion) -> dict:
    u = completion.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens}
