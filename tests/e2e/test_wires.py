"""The Anthropic SDK against /v1/messages, and the OpenAI SDK against models
served over the Anthropic, Gemini and Bedrock wires. The mock upstream enforces each
provider's request rules, so a translation mistake fails here as it would
against the real vendor."""

from __future__ import annotations

import json

import anthropic
import pytest

from helpers import UPSTREAM_KEY, collect

CLAUDE = "anthropic/claude-sonnet-5-5"
WEATHER_OPENAI = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
WEATHER_ANTHROPIC = [{
    "name": "get_weather",
    "description": "Weather by city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]


# --- the Anthropic SDK through /v1/messages --------------------------------

NOVA = "bedrock/amazon.nova-lite-v1:0"


@pytest.mark.parametrize("model", ["fast", CLAUDE, "gemini/gemini-2.5-flash", NOVA])
def test_anthropic_sdk_plain(claude, model):
    message = claude.messages.create(
        model=model, max_tokens=100, system="Be terse.",
        messages=[{"role": "user", "content": "Say hello to the gateway"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Echo: Say hello to the gateway"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 6
    assert message.usage.input_tokens > 0


def test_anthropic_sdk_matches_the_anthropic_api_itself(claude, claude_direct):
    """Through the gateway to the Anthropic wire, the SDK sees what it sees
    talking to the (mock) Anthropic API directly, ids aside."""
    request = dict(max_tokens=3, messages=[{"role": "user", "content": "one two three four"}])
    want = claude_direct.messages.create(model="claude-sonnet-5-5", **request)
    got = claude.messages.create(model=CLAUDE, **request)
    assert [b.model_dump() for b in got.content] == [b.model_dump() for b in want.content]
    assert got.stop_reason == want.stop_reason == "max_tokens"
    assert (got.usage.input_tokens, got.usage.output_tokens) == (want.usage.input_tokens, want.usage.output_tokens)


@pytest.mark.parametrize("model", ["fast", CLAUDE, NOVA])
def test_anthropic_sdk_streaming(claude, model):
    with claude.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "stream this please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: stream this please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


@pytest.mark.parametrize("model", [CLAUDE, "gemini/gemini-2.5-pro", NOVA])
def test_anthropic_sdk_tool_use(claude, model):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = claude.messages.create(model=model, max_tokens=200, tools=WEATHER_ANTHROPIC, messages=messages)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "mock"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}]},
    ]
    second = claude.messages.create(model=model, max_tokens=200, tools=WEATHER_ANTHROPIC, messages=messages)
    assert second.stop_reason == "end_turn"

    with claude.messages.stream(model=model, max_tokens=200, tools=WEATHER_ANTHROPIC,
                                messages=messages[:1]) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.input == {"city": "mock"} and final.stop_reason == "tool_use"


def test_anthropic_sdk_count_tokens(claude):
    count = claude.messages.count_tokens(model="fast", messages=[{"role": "user", "content": "count me"}])
    assert count.input_tokens > 0


def test_anthropic_sdk_errors(claude, gateway_url):
    with pytest.raises(anthropic.NotFoundError) as error:
        claude.messages.create(model="nope/x", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert error.value.body["error"]["type"] == "not_found_error"
    bad = anthropic.Anthropic(base_url=gateway_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="fast", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="anthropic/fault-429", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError) as error:
        claude.messages.create(model="fast", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                               extra_body={"container": "c"})
    assert "container" in error.value.message


# --- the OpenAI SDK against models on other wires ---------------------------

@pytest.mark.parametrize("model", [CLAUDE, "gemini/gemini-2.5-flash", NOVA])
def test_openai_sdk_plain(alpha, model):
    completion = alpha.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi there"}],
    )
    assert completion.headers["x-switchboard-provider"] == model.split("/")[0]
    assert completion.headers["x-switchboard-model"] == model
    parsed = completion.parse()
    assert parsed.choices[0].message.content == "Echo: hi there"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage.completion_tokens == 3


@pytest.mark.parametrize("model", [CLAUDE, "gemini/gemini-2.5-flash", NOVA])
def test_openai_sdk_streaming(alpha, model):
    got = collect(alpha.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a b c"}],
        stream=True, stream_options={"include_usage": True},
    ))
    assert (got.content, got.finish_reason) == ("Echo: a b c", "stop")
    assert got.usage["completion_tokens"] == 4 and got.usage_chunks == 1 and got.usage_chunk_was_last


@pytest.mark.parametrize("model", [CLAUDE, "gemini/gemini-2.5-pro", NOVA])
def test_openai_sdk_tools(alpha, model):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = alpha.chat.completions.create(model=model, messages=messages, tools=WEATHER_OPENAI)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "mock"}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    second = alpha.chat.completions.create(model=model, messages=messages, tools=WEATHER_OPENAI)
    assert second.choices[0].finish_reason == "stop"

    stream = alpha.chat.completions.create(model=model, messages=messages[:1], tools=WEATHER_OPENAI, stream=True)
    arguments, finish = "", None
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                arguments += tc.function.arguments or ""
            finish = c.finish_reason or finish
    assert json.loads(arguments) == {"city": "mock"} and finish == "tool_calls"


def test_openai_sdk_sees_rejected_fields_by_name(alpha):
    import openai
    with pytest.raises(openai.BadRequestError) as error:
        alpha.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "x"}], logprobs=True)
    assert error.value.body["param"] == "logprobs"


def test_the_client_key_never_reaches_anthropic(alpha, mock_http):
    alpha.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "x"}])
    stats = mock_http.get("/_mock/stats").json()
    assert stats["last_authorization"] == UPSTREAM_KEY
