"""The response cache through the official OpenAI SDK: paraphrases served
without an upstream call (JSON and streaming), team and context isolation,
and a restart that keeps the entries.

These tests run their own gateway (the session one has no cache) against the
session mock upstream, whose /_mock/stats counts the calls that reach it.
"""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from conftest import ADDRESS, HERE, Process, binary, gateway_env, sdk
from helpers import ALPHA_KEY, BETA_KEY, UPSTREAM_KEY, require_env


@pytest.fixture(scope="session")
def embedding_model() -> str:
    """The model directory; without one the test is skipped, or fails under CI.
    Session-scoped, so it is set up (and skips) before the module's gateway."""
    return require_env("SWITCHBOARD_EMBEDDING_MODEL_DIR", "scripts/fetch-model")


needs_model = pytest.mark.usefixtures("embedding_model")


def start_gateway(mock_url: str, data_dir: Path) -> tuple[Process, str]:
    config = data_dir / "gateway.toml"
    config.write_text(
        (HERE / "gateway.toml").read_text()
        + f'\n[cache]\nenabled = true\ndata_dir = "{data_dir / "cache"}"\n'
    )
    env = gateway_env(mock_url)
    proc = Process("cache-gateway", [str(binary()), "serve", "--config", str(config)], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    return proc, url


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def cached(mock_url, cache_dir):
    proc, url = start_gateway(mock_url, cache_dir)
    yield url
    proc.stop()


def calls(mock_http) -> int:
    return mock_http.get("/_mock/stats").json()["chat_calls"]


def ask(client: openai.OpenAI, question: str, system: str | None = None, model: str = "fast"):
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
    return raw.headers.get("x-switchboard-cache"), raw.parse()


@needs_model
def test_a_paraphrase_is_served_from_the_cache(cached, mock_http):
    alpha = sdk(f"{cached}/v1", ALPHA_KEY)
    before = calls(mock_http)
    outcome, first = ask(alpha, "How do I reset my password?")
    assert outcome == "miss"
    outcome, second = ask(alpha, "What are the steps to reset my password?")
    assert outcome == "hit-semantic"
    assert second.choices[0].message.content == first.choices[0].message.content
    assert calls(mock_http) == before + 1


@needs_model
def test_a_streamed_paraphrase_is_replayed(cached, mock_http):
    alpha = sdk(f"{cached}/v1", ALPHA_KEY)
    before = calls(mock_http)
    with alpha.chat.completions.with_streaming_response.create(
        model="fast",
        messages=[{"role": "user", "content": "How can I reverse a string in Python?"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers.get("x-switchboard-cache") == "miss"
        live = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    time.sleep(0.1)
    with alpha.chat.completions.with_streaming_response.create(
        model="fast",
        messages=[{"role": "user", "content": "What's the way to reverse a string in Python?"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers.get("x-switchboard-cache") == "hit-semantic"
        chunks = list(response.parse())
    replayed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert replayed == live
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert calls(mock_http) == before + 1


def test_a_second_team_asking_the_same_misses(cached, mock_http):
    alpha = sdk(f"{cached}/v1", ALPHA_KEY)
    beta = sdk(f"{cached}/v1", BETA_KEY)
    assert ask(alpha, "Which team am I in?", model="echo")[0] == "miss"
    assert ask(alpha, "Which team am I in?", model="echo")[0] == "hit-exact"
    assert ask(beta, "Which team am I in?", model="echo")[0] == "miss"


def test_a_different_system_prompt_misses(cached, mock_http):
    alpha = sdk(f"{cached}/v1", ALPHA_KEY)
    before = calls(mock_http)
    assert ask(alpha, "What is the capital of Peru?", system="Be brief.")[0] == "miss"
    assert ask(alpha, "What is the capital of Peru?", system="Be brief.")[0] == "hit-exact"
    assert ask(alpha, "What is the capital of Peru?", system="Answer in Spanish.")[0] == "miss"
    assert calls(mock_http) == before + 2


def test_a_restart_keeps_the_entries(mock_url, mock_http, tmp_path):
    proc, url = start_gateway(mock_url, tmp_path)
    try:
        alpha = sdk(f"{url}/v1", ALPHA_KEY)
        assert ask(alpha, "How tall is Mount Everest?")[0] == "miss"
        snapshot = tmp_path / "cache" / "cache-snapshot.jsonl"
        deadline = time.monotonic() + 10
        while not snapshot.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert snapshot.exists()
    finally:
        proc.stop()
    proc, url = start_gateway(mock_url, tmp_path)
    try:
        before = calls(mock_http)
        outcome, _ = ask(sdk(f"{url}/v1", ALPHA_KEY), "How tall is Mount Everest?")
        assert outcome == "hit-exact"
        assert calls(mock_http) == before
    finally:
        proc.stop()


def test_an_entry_written_just_before_shutdown_survives_a_restart(mock_url, mock_http, tmp_path):
    # SIGTERM at once: the snapshot written at graceful shutdown keeps it.
    proc, url = start_gateway(mock_url, tmp_path)
    try:
        alpha = sdk(f"{url}/v1", ALPHA_KEY)
        assert ask(alpha, "How deep is the Mariana Trench?")[0] == "miss"
    finally:
        proc.stop()
    proc, url = start_gateway(mock_url, tmp_path)
    try:
        before = calls(mock_http)
        outcome, _ = ask(sdk(f"{url}/v1", ALPHA_KEY), "How deep is the Mariana Trench?")
        assert outcome == "hit-exact"
        assert calls(mock_http) == before
    finally:
        proc.stop()
