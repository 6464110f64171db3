"""The Responses API through the gateway with the official OpenAI SDK:
plain, streamed, with function tools (the Anthropic wire's mock calls the
first tool it is given), continued with `previous_response_id`, read back,
listed and deleted, and refused with the SDK's typed errors."""

from __future__ import annotations

import json

import openai
import pytest

MODEL = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-sonnet-5-5"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_a_plain_response(alpha):
    response = alpha.responses.create(
        model=MODEL, instructions="You are terse.", input="Say hello to the gateway please",
        metadata={"ticket": "42"},
    )
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Echo: Say hello to the gateway please"
    assert response.output[0].type == "message"
    assert response.output[0].content[0].type == "output_text"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens == 7
    assert response.usage.total_tokens == response.usage.input_tokens + 7
    assert response.metadata == {"ticket": "42"}
    assert response.instructions == "You are terse."


def test_max_output_tokens_makes_an_incomplete_response(alpha):
    # 16 is the least OpenAI accepts (see the native case below).
    words = [f"w{i}" for i in range(20)]
    response = alpha.responses.create(model=MODEL, input=" ".join(words), max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "Echo: " + " ".join(words[:15])


def test_a_native_provider_serves_the_request_itself(alpha, direct, mock_http):
    """`openai` serves the Responses API (`responses_api` in providers/openai.toml):
    the request reaches its /v1/responses as a Responses request, and the answer
    is its response object under the gateway's own id."""
    before = mock_http.get("/_mock/stats").json()["responses_calls"]
    through = alpha.responses.create(model=MODEL, input="native please", store=False)
    assert mock_http.get("/_mock/stats").json()["responses_calls"] > before
    upstream = direct.responses.create(model="gpt-4o-mini", input="native please", store=False)
    assert through.output_text == upstream.output_text == "Echo: native please"
    assert through.usage.input_tokens == upstream.usage.input_tokens
    assert through.usage.output_tokens == upstream.usage.output_tokens
    assert through.id.startswith("resp_") and through.id != upstream.id
    assert through.model == MODEL
    # What the provider refuses reaches the SDK as its typed error: OpenAI's
    # floor for max_output_tokens is 16.
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.responses.create(model=MODEL, input="x", max_output_tokens=5)
    assert refused.value.body["param"] == "max_output_tokens"


def test_a_streamed_response(alpha):
    stream = alpha.responses.create(model=MODEL, input="stream these words", stream=True)
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Echo: stream these words"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert done.output_text == deltas
    assert done.usage.output_tokens == 4
    # The stream's response is kept like any other.
    assert alpha.responses.retrieve(done.id).output_text == deltas


def test_the_stream_helper_accumulates_the_response(alpha):
    with alpha.responses.stream(model=MODEL, input="helper words") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "Echo: helper words"
    assert final.output_text == text


def test_function_tools_and_their_results(alpha):
    first = alpha.responses.create(model=CLAUDE, input="Weather in Paris?", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "mock"}
    assert call.call_id
    second = alpha.responses.create(
        model=CLAUDE,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}],
        tools=[WEATHER],
    )
    assert second.status == "completed"
    assert second.previous_response_id == first.id
    assert second.output_text.startswith("Echo:")


def test_streamed_function_call_arguments(alpha):
    events = list(alpha.responses.create(model=CLAUDE, input="Weather?", tools=[WEATHER], stream=True))
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = [e for e in events if e.type == "response.function_call_arguments.done"][0]
    assert json.loads(done.arguments) == {"city": "mock"}
    item = events[-1].response.output[-1]
    assert item.type == "function_call" and item.name == "get_weather"


def test_previous_response_id_continues_the_conversation(alpha):
    first = alpha.responses.create(model=MODEL, input="remember the word kiwi")
    second = alpha.responses.create(model=MODEL, input="what was the word", previous_response_id=first.id)
    assert second.output_text == "Echo: what was the word"
    items = alpha.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == ["what was the word"]


def test_store_false_keeps_nothing(alpha):
    response = alpha.responses.create(model=MODEL, input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        alpha.responses.retrieve(response.id)


def test_responses_are_read_and_deleted_by_their_team_only(alpha, beta):
    response = alpha.responses.create(model=MODEL, input="mine")
    assert alpha.responses.retrieve(response.id).id == response.id
    with pytest.raises(openai.NotFoundError):
        beta.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        beta.responses.delete(response.id)
    with pytest.raises(openai.BadRequestError) as refused:
        beta.responses.create(model="echo", input="x", previous_response_id=response.id)
    assert refused.value.body["param"] == "previous_response_id"
    alpha.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        alpha.responses.retrieve(response.id)


def test_bad_requests_are_typed_errors_naming_the_field(alpha):
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.responses.create(model=MODEL, input=[{"role": "robot", "content": "x"}])
    assert refused.value.body["param"] == "input[0].role"
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.responses.create(model=MODEL, input="x", extra_body={"colour": "red"})
    assert refused.value.body["param"] == "colour"
    with pytest.raises(openai.NotFoundError):
        alpha.responses.create(model="no-such/model", input="x")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=str(alpha.base_url), api_key="sk-wrong", max_retries=0).responses.create(
            model=MODEL, input="x"
        )


def test_a_prompt_template_with_its_variables(alpha):
    response = alpha.responses.create(
        model=MODEL, prompt={"id": "summarize", "variables": {"text": "The sky is blue."}}
    )
    # The mock echoes the last user message: the rendered template.
    assert response.output_text.startswith("Echo: Summarize the following text in 3 bullet points.")
    assert response.output_text.endswith("The sky is blue.")
    pinned = alpha.responses.create(
        model=MODEL,
        prompt={"id": "summarize", "version": "1", "variables": {"text": "x", "bullets": 5}},
    )
    assert "in 5 bullet points" in pinned.output_text


def test_prompt_templates_in_chat_completions(alpha):
    completion = alpha.chat.completions.create(
        model=MODEL, messages=[], extra_body={"prompt": {"id": "summarize", "variables": {"text": "Short."}}}
    )
    assert completion.choices[0].message.content.startswith("Echo: Summarize the following text")


def test_bad_prompt_parameters_are_named(alpha):
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.responses.create(model=MODEL, prompt={"id": "summarize", "variables": {}})
    assert refused.value.body["param"] == "prompt.variables.text"
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.responses.create(
            model=MODEL, prompt={"id": "summarize", "variables": {"text": "x", "bullets": "five"}}
        )
    assert refused.value.body["param"] == "prompt.variables.bullets"
    with pytest.raises(openai.NotFoundError):
        alpha.responses.create(model=MODEL, prompt={"id": "no-such-prompt"})
    with pytest.raises(openai.NotFoundError):
        alpha.responses.create(model=MODEL, prompt={"id": "summarize", "version": "9", "variables": {"text": "x"}})
