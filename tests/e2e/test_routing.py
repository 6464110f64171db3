"""A route with a failing first target: the SDK sees one ordinary answer,
and the headers say who served it and after how many attempts."""

from __future__ import annotations

from helpers import ECHOED, MESSAGES, collect


def test_a_down_target_costs_the_sdk_nothing(alpha):
    raw = alpha.chat.completions.with_raw_response.create(model="resilient", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == ECHOED
    assert raw.headers["x-switchboard-model"] == "openai/gpt-4o-mini"
    assert raw.headers["x-switchboard-provider"] == "openai"
    # Two tries of the failing target, then the fallback (or only the
    # fallback, once the breaker has opened).
    assert raw.headers["x-switchboard-attempts"] in ("3", "1")


def test_a_down_target_costs_a_stream_nothing(alpha):
    raw = alpha.chat.completions.with_raw_response.create(
        model="resilient", messages=MESSAGES, stream=True
    )
    assert raw.headers["x-switchboard-model"] == "openai/gpt-4o-mini"
    streamed = collect(raw.parse())
    assert streamed.content == ECHOED
    assert streamed.finish_reason == "stop"
