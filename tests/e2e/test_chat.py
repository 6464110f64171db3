"""The gateway must be transparent: the SDK pointed at it gets what the SDK
pointed straight at the upstream gets (ids and timestamps aside)."""

from __future__ import annotations

import pytest

from helpers import ECHOED, MESSAGES, collect, usage_of

GATEWAY_MODELS = ["openai/gpt-4o-mini", "fast"]


def summary(completion) -> dict:
    choice = completion.choices[0]
    return {
        "content": choice.message.content,
        "role": choice.message.role,
        "finish_reason": choice.finish_reason,
        "choices": len(completion.choices),
        "usage": usage_of(completion),
    }


@pytest.mark.parametrize("model", GATEWAY_MODELS)
@pytest.mark.parametrize("max_tokens", [None, 3], ids=["full", "truncated"])
def test_chat_matches_direct(direct, alpha, model, max_tokens):
    extra = {} if max_tokens is None else {"max_tokens": max_tokens}
    want = direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **extra)
    got = alpha.chat.completions.create(model=model, messages=MESSAGES, **extra)
    assert summary(got) == summary(want)
    if max_tokens is None:
        assert got.choices[0].message.content == ECHOED
        assert got.choices[0].finish_reason == "stop"
    else:
        assert got.choices[0].message.content == "Echo: Say hello"
        assert got.choices[0].finish_reason == "length"
    assert got.object == "chat.completion"
    assert got.id and got.id != want.id


@pytest.mark.parametrize("model", GATEWAY_MODELS)
def test_stream_matches_direct_with_usage(direct, alpha, model):
    opts = {"stream": True, "stream_options": {"include_usage": True}}
    want = collect(direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **opts))
    got = collect(alpha.chat.completions.create(model=model, messages=MESSAGES, **opts))
    assert want.content == ECHOED and want.usage_chunks == 1, "reference stream is sane"
    assert (got.content, got.finish_reason, got.usage) == (want.content, want.finish_reason, want.usage)
    assert got.usage_chunks == 1 and got.usage_chunk_was_last
    assert got.roles == ["assistant"]


@pytest.mark.parametrize("model", GATEWAY_MODELS)
def test_stream_without_usage_has_no_usage_chunk(direct, alpha, model):
    want = collect(direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    got = collect(alpha.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    assert want.usage_chunks == 0
    assert got.usage_chunks == 0, "usage was not requested, so no usage chunk"
    assert (got.content, got.finish_reason) == (ECHOED, "stop")
    assert got.finish_reason == want.finish_reason


def test_streamed_and_plain_answers_agree_through_gateway(alpha):
    plain = alpha.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=4)
    streamed = collect(alpha.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=4, stream=True))
    assert streamed.content == plain.choices[0].message.content == "Echo: Say hello to"
    assert streamed.finish_reason == plain.choices[0].finish_reason == "length"


@pytest.mark.parametrize("encoding", ["float", "base64", None])
def test_embeddings_match_direct(direct, alpha, encoding):
    inputs = ["the quick brown fox", "jumps"]
    extra = {} if encoding is None else {"encoding_format": encoding}
    want = direct.embeddings.create(model="text-embedding-3-small", input=inputs, **extra)
    got = alpha.embeddings.create(model="openai/text-embedding-3-small", input=inputs, **extra)
    assert [d.index for d in got.data] == [0, 1]
    assert [d.embedding for d in got.data] == [d.embedding for d in want.data]
    assert (got.usage.prompt_tokens, got.usage.total_tokens) == (want.usage.prompt_tokens, want.usage.total_tokens)
    assert got.usage.prompt_tokens == 5
    first = got.data[0].embedding
    if encoding == "base64":
        assert isinstance(first, str) and len(first) == 44, "8 little-endian f32, base64"
    else:
        assert len(first) == 8 and abs(sum(x * x for x in first) - 1.0) < 1e-4


def test_embeddings_dimensions_pass_through(direct, alpha):
    want = direct.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=16, encoding_format="float")
    got = alpha.embeddings.create(model="openai/text-embedding-3-small", input="hi", dimensions=16, encoding_format="float")
    assert len(got.data[0].embedding) == 16
    assert got.data[0].embedding == want.data[0].embedding


def test_models_list_per_team(alpha, beta):
    alpha_ids = {m.id for m in alpha.models.list()}
    assert {"openai/gpt-4o-mini", "fast", "mock/echo"} <= alpha_ids, sorted(alpha_ids)
    beta_ids = {m.id for m in beta.models.list()}
    assert {"mock/echo", "echo"} <= beta_ids, sorted(beta_ids)
    outside = sorted(i for i in beta_ids if not (i.startswith("mock/") or i == "echo"))
    assert outside == [], f"team beta may only see mock/* and echo, saw {outside}"


@pytest.mark.parametrize("client_name,model", [("alpha", "mock/echo"), ("beta", "echo"), ("beta", "mock/echo")])
def test_builtin_mock_provider(request, client_name, model):
    client = request.getfixturevalue(client_name)
    first = client.chat.completions.create(model=model, messages=MESSAGES)
    again = client.chat.completions.create(model=model, messages=MESSAGES)
    content = first.choices[0].message.content
    assert isinstance(content, str) and content, "the mock provider answers something"
    assert content == again.choices[0].message.content, "deterministic"
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None and first.usage.total_tokens > 0
    streamed = collect(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    assert streamed.content == content
    assert streamed.finish_reason == "stop"
    assert streamed.chunks > 1, "a real stream, not one lump"


def test_success_headers(alpha):
    raw = alpha.chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert raw.status_code == 200
    assert raw.headers.get("x-switchboard-provider") == "openai"
    assert "gpt-4o-mini" in raw.headers.get("x-switchboard-model", "")
    overhead = raw.headers.get("x-switchboard-overhead-us", "")
    assert overhead.isdigit(), f"overhead in whole microseconds, got {overhead!r}"
    assert raw.headers.get("x-request-id")
    assert raw.parse().choices[0].message.content == ECHOED


def test_request_id_is_echoed(http):
    body = {"model": "fast", "messages": MESSAGES}
    headers = {"authorization": "Bearer sk-alpha-test", "x-request-id": "e2e-trace-42"}
    ok = http.post("/v1/chat/completions", json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.headers.get("x-request-id") == "e2e-trace-42"
    bad = http.post("/v1/chat/completions", json={"messages": MESSAGES}, headers=headers)
    assert bad.status_code == 400
    assert bad.headers.get("x-request-id") == "e2e-trace-42"
    fresh = http.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-alpha-test"})
    generated = fresh.headers.get("x-request-id")
    assert generated and generated != "e2e-trace-42"


def test_api_key_header_is_accepted(http):
    resp = http.post("/v1/chat/completions", json={"model": "fast", "messages": MESSAGES}, headers={"api-key": "sk-alpha-test"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == ECHOED


def test_client_key_never_reaches_upstream(alpha, mock_http):
    assert mock_http.post("/_mock/reset").status_code == 200
    alpha.chat.completions.create(model="fast", messages=MESSAGES)
    stats = mock_http.get("/_mock/stats").json()
    assert stats["chat_calls"] == 1
    assert stats["last_authorization"] == "Bearer sk-upstream-test"
    collect(alpha.chat.completions.create(model="fast", messages=MESSAGES, stream=True))
    alpha.embeddings.create(model="openai/text-embedding-3-small", input="x")
    stats = mock_http.get("/_mock/stats").json()
    assert (stats["chat_calls"], stats["embedding_calls"]) == (2, 1)
    assert stats["last_authorization"] == "Bearer sk-upstream-test"
