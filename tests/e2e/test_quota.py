"""Budgets through the official OpenAI SDK: the refusal is the SDK's own
RateLimitError, carrying the limit that tripped, and the rate headers come
on successful responses too."""

from __future__ import annotations

import openai
import pytest

from conftest import sdk

CAPPED_KEY = "sk-capped-test"
SMALL = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "Say hello please"}]}


def test_budget_refusal_is_a_rate_limit_error_naming_the_limit(gateway_url):
    client = sdk(f"{gateway_url}/v1", CAPPED_KEY)
    raw = client.chat.completions.with_raw_response.create(**SMALL)
    assert raw.headers["x-ratelimit-limit-requests"] == "1000"
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < 1000
    assert raw.headers["x-ratelimit-reset-requests"]
    assert raw.parse().choices[0].message.content
    # The budget affords one such request; the next one's worst case does not fit.
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**SMALL)
    error = caught.value
    assert error.status_code == 429
    assert error.code == "insufficient_quota"
    assert error.type == "insufficient_quota"
    body = error.body
    assert body["scope"] == "team capped"
    assert body["limit_kind"] == "usd:total"
    assert body["limit"] == pytest.approx(0.000006)
    assert 0 < body["current"] <= body["limit"]
    assert "team capped" in error.message
    assert error.response.headers["retry-after"]
