"""Operational endpoints and robustness."""

from __future__ import annotations

import json

from helpers import ECHOED, MESSAGES

ALPHA = {"authorization": "Bearer sk-alpha-test"}


def test_health_and_readiness(http):
    for path in ["/healthz", "/readyz"]:
        resp = http.get(path)
        assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"


def test_metrics_are_prometheus_text(http, alpha):
    alpha.chat.completions.create(model="fast", messages=MESSAGES)
    resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers.get("content-type", "").startswith(("text/plain", "application/openmetrics-text"))
    lines = resp.text.splitlines()
    samples = [line for line in lines if line.startswith("switchboard_requests_total")]
    assert samples, "switchboard_requests_total is exported"
    assert any(float(line.rsplit(" ", 1)[-1]) >= 1 for line in samples), samples
    # OpenMetrics names the counter family without its `_total` suffix.
    type_lines = {"# TYPE switchboard_requests counter", "# TYPE switchboard_requests_total counter"}
    assert type_lines & set(lines), "declared as a counter"


def test_client_disconnecting_mid_stream_leaves_gateway_healthy(http, alpha):
    long_prompt = " ".join(f"word{i}" for i in range(2000))
    body = {"model": "fast", "stream": True, "messages": [{"role": "user", "content": long_prompt}]}
    for _ in range(3):
        with http.stream("POST", "/v1/chat/completions", json=body, headers=ALPHA) as resp:
            assert resp.status_code == 200
            assert resp.headers.get("content-type", "").startswith("text/event-stream")
            first = next(resp.iter_bytes())
            assert first.startswith(b"data: ")
        # Leaving the block closes the connection with the stream unfinished.
    after = alpha.chat.completions.create(model="fast", messages=MESSAGES)
    assert after.choices[0].message.content == ECHOED
    assert http.get("/healthz").status_code == 200


def test_stream_wire_format(http):
    body = {"model": "fast", "stream": True, "messages": MESSAGES}
    resp = http.post("/v1/chat/completions", json=body, headers=ALPHA)
    assert resp.status_code == 200
    events = resp.text.split("\n\n")
    assert events[-1] == "", "the stream ends with a complete event"
    payloads = [e.removeprefix("data: ") for e in events[:-1] if e.strip() and not e.startswith(":")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1, "one id for the whole stream"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == ECHOED
