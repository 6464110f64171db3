"""Session fixtures: a real mock upstream and a real gateway, as processes.

The gateway comes from $SWITCHBOARD_BIN (default target/debug/switchboard), the mock
upstream from $SWITCHBOARD_MOCK_BIN (default target/debug/mock-upstream); both
announce their address on stdout, which is how the tests find them.
"""

from __future__ import annotations

import collections
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from helpers import ALPHA_KEY, BETA_KEY, CLIENT_TIMEOUT_S, UPSTREAM_KEY

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 30


def built(variable: str, name: str) -> Path:
    """A binary of the workspace: $variable, or target/debug/<name>."""
    path = Path(os.environ.get(variable, ROOT / "target" / "debug" / name))
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        pytest.fail(f"{name} binary not found at {path}; run `cargo build --bins`", pytrace=False)
    return path


def binary() -> Path:
    return built("SWITCHBOARD_BIN", "switchboard")


def mock_binary() -> Path:
    return built("SWITCHBOARD_MOCK_BIN", "mock-upstream")


class Process:
    """A child process whose stdout lines are queued and whose stderr is kept
    (the tail of it) for failure messages. Both pipes are drained for the
    process's whole life so it never blocks on a full pipe."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name = name
        self.args = args
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=200)
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))
        sink(None)

    def wait_for_line(self, pattern: str, timeout: float = STARTUP_TIMEOUT_S) -> re.Match[str]:
        """Waits for a stdout line matching `pattern`; fails the session with
        the process's stderr if it exits first or the line never comes."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(f"did not print a line matching {pattern!r} within {timeout}s", seen)
            try:
                line = self.lines.get(timeout=min(remaining, 0.25))
            except queue.Empty:
                continue
            if line is None:
                try:
                    code = self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = "still running"
                self.fail(f"closed stdout (exit status {code}) before printing its address", seen)
            seen.append(line)
            match = re.fullmatch(pattern, line.strip())
            if match:
                return match

    def fail(self, why: str, stdout: list[str]) -> None:
        time.sleep(0.2)  # let the stderr pump catch up with a dying process
        self.stop()
        err = "\n".join(line for line in self.stderr if line is not None)
        pytest.fail(
            f"{self.name} {why}\ncommand: {' '.join(self.args)}\n"
            f"--- stdout ---\n{chr(10).join(stdout)}\n--- stderr (tail) ---\n{err}",
            pytrace=False,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


ADDRESS = r"(http://[0-9.]+:[0-9]+)"


@pytest.fixture(scope="session")
def mock_url():
    """Root URL (no /v1) of the mock upstream process."""
    proc = Process(
        "mock-upstream",
        [str(mock_binary()), "--listen", "127.0.0.1:0", "--api-key", UPSTREAM_KEY],
        dict(os.environ),
    )
    url = proc.wait_for_line(rf"mock-upstream listening on {ADDRESS}").group(1)
    yield url
    proc.stop()


def gateway_env(mock_url: str) -> dict[str, str]:
    """The environment of a gateway configured by gateway.toml, in front of the mock."""
    env = dict(os.environ)
    env.update(
        OPENAI_BASE_URL=f"{mock_url}/v1",
        OPENAI_API_KEY=UPSTREAM_KEY,
        # One mock process serves every wire, under each vendor's own paths.
        ANTHROPIC_BASE_URL=mock_url,
        ANTHROPIC_API_KEY=UPSTREAM_KEY,
        GEMINI_BASE_URL=mock_url,
        GEMINI_API_KEY=UPSTREAM_KEY,
        # The Bedrock mock checks SigV4 with its key as both key id and secret.
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=mock_url,
        AWS_ACCESS_KEY_ID=UPSTREAM_KEY,
        AWS_SECRET_ACCESS_KEY=UPSTREAM_KEY,
        AWS_REGION="eu-west-1",
        SWITCHBOARD_LISTEN="127.0.0.1:0",
        SB_TEST_KEY_ALPHA=ALPHA_KEY,
        SB_TEST_KEY_BETA=BETA_KEY,
    )
    return env


@pytest.fixture(scope="session")
def gateway_url(mock_url):
    """Root URL (no /v1) of the gateway process, configured by gateway.toml."""
    env = gateway_env(mock_url)
    proc = Process("gateway", [str(binary()), "serve", "--config", str(HERE / "gateway.toml")], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    yield url
    proc.stop()


def sdk(base_url: str, key: str) -> openai.OpenAI:
    # No retries: a 5xx must surface as it is, not be retried into a pass.
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="session")
def direct(mock_url) -> openai.OpenAI:
    """The SDK talking straight to the mock upstream: the reference answers."""
    return sdk(f"{mock_url}/v1", UPSTREAM_KEY)


@pytest.fixture(scope="session")
def alpha(gateway_url) -> openai.OpenAI:
    """The SDK through the gateway as team alpha, which may use every model."""
    return sdk(f"{gateway_url}/v1", ALPHA_KEY)


@pytest.fixture(scope="session")
def beta(gateway_url) -> openai.OpenAI:
    """The SDK through the gateway as team beta, limited to mock/* and echo."""
    return sdk(f"{gateway_url}/v1", BETA_KEY)


@pytest.fixture(scope="session")
def gateway_sdk(gateway_url):
    """Builds SDK clients for the gateway with any key."""
    return lambda key: sdk(f"{gateway_url}/v1", key)


@pytest.fixture(scope="session")
def http(gateway_url):
    """Raw HTTP to the gateway, for what the SDK cannot send."""
    with httpx.Client(base_url=gateway_url, timeout=CLIENT_TIMEOUT_S) as client:
        yield client


@pytest.fixture(scope="session")
def claude(gateway_url):
    """The official Anthropic SDK through the gateway's /v1/messages, as team alpha."""
    return anthropic.Anthropic(base_url=gateway_url, api_key=ALPHA_KEY, max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="session")
def claude_direct(mock_url):
    """The Anthropic SDK straight at the mock upstream: the reference answers."""
    return anthropic.Anthropic(base_url=mock_url, api_key=UPSTREAM_KEY, max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="session")
def mock_http(mock_url):
    """Raw HTTP to the mock upstream, for its /_mock/stats and /_mock/reset."""
    with httpx.Client(base_url=mock_url, timeout=CLIENT_TIMEOUT_S) as client:
        yield client
