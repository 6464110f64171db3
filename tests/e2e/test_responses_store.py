"""Kept responses outlive the process that made them: two gateway processes
sharing Redis continue each other's conversations, and the embedded SQLite
store survives a restart. The official OpenAI SDK as the client."""

from __future__ import annotations

import os
import socket
import uuid

import openai
import pytest

from conftest import ADDRESS, Process, binary, gateway_env, sdk
from helpers import ALPHA_KEY, missing_dependency

REDIS = ("127.0.0.1", 6379)
MODEL = "openai/gpt-4o-mini"


def redis_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
        return True
    except OSError:
        return False


def start(config, mock_url: str) -> tuple[Process, openai.OpenAI]:
    env = dict(gateway_env(mock_url), SWITCHBOARD_LISTEN="127.0.0.1:0")
    proc = Process("gateway (responses)", [str(binary()), "serve", "--config", str(config)], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    return proc, sdk(f"{url}/v1", ALPHA_KEY)


def write_config(folder, store: str) -> object:
    config = folder / "gateway.toml"
    config.write_text(
        f"""
[[teams]]
id = "alpha"
[[keys]]
id = "alpha-ci"
team = "alpha"
value_env = "SB_TEST_KEY_ALPHA"
[providers.openai]
allow_unlisted_models = true
{store}
"""
    )
    return config


def test_replicas_sharing_redis_continue_each_others_responses(tmp_path, mock_url):
    if not redis_up():
        missing_dependency("Redis on 127.0.0.1:6379", "the machine's Redis service")
        return
    prefix = f"sb-resp-{uuid.uuid4().hex[:8]}"
    config = write_config(
        tmp_path,
        f"""
[quota]
store = "redis"
redis_url = "redis://127.0.0.1:6379/0"
redis_prefix = "{prefix}"
ledger = ":memory:"
[responses]
store = "redis"
""",
    )
    first, a = start(config, mock_url)
    second, b = start(config, mock_url)
    try:
        made = a.responses.create(model=MODEL, input="remember kiwi")
        assert b.responses.retrieve(made.id).output_text == "Echo: remember kiwi"
        follow = b.responses.create(model=MODEL, input="which fruit", previous_response_id=made.id)
        assert follow.previous_response_id == made.id
        assert a.responses.input_items.list(follow.id).data[0].content[0].text == "which fruit"
        a.responses.delete(made.id)
        with pytest.raises(openai.NotFoundError):
            b.responses.retrieve(made.id)
    finally:
        first.stop()
        second.stop()


def test_the_embedded_store_survives_a_restart(tmp_path, mock_url):
    config = write_config(tmp_path, '[quota]\nledger = "ledger.sqlite"\n')
    proc, client = start(config, mock_url)
    try:
        made = client.responses.create(model=MODEL, input="keep me")
    finally:
        proc.stop()
    assert (tmp_path / "switchboard-responses.sqlite").exists()
    proc, client = start(config, mock_url)
    try:
        assert client.responses.retrieve(made.id).output_text == "Echo: keep me"
    finally:
        proc.stop()
