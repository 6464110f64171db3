"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`,
server scenarios) against its own reference server, directly and through
the gateway's `/mcp/{server}` in one run: every scenario that passes
directly must pass through the gateway, check for check. The suite's CLI
cannot send a key, so it reaches the gateway through a local proxy that
adds one (`key_proxy.py`); the `Host` and `Origin` it sends pass unchanged,
so the DNS-rebinding scenario meets the gateway's own checks."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import ADDRESS, Process, binary
from key_proxy import KeyProxy
from test_mcp import free_port, peers, toml_string

KEY = "sk-conformance-team"
# One scenario line of the suite's summary: "✓ ping: 1 passed, 0 failed".
SCENARIO = re.compile(r"^[✓✗] ([\w-]+): (\d+) passed, (\d+) failed$")
SUITE_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def reference_server():
    """The suite's reference server over streamable HTTP; yields its URL."""
    commands = peers()
    port = free_port()
    proc = Process(
        "conformance reference server",
        [commands["MCP_TSX"], commands["MCP_CONFORMANCE_SERVER"]],
        dict(os.environ, PORT=str(port)),
    )
    proc.wait_for_line(rf"MCP Conformance Test Server running on http://localhost:{port}")
    yield f"http://localhost:{port}/mcp"
    proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, reference_server):
    config = tmp_path_factory.mktemp("conformance") / "gateway.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"

[[teams]]
id = "conformance"

[[keys]]
id = "conformance"
team = "conformance"
value_env = "SB_CONFORMANCE_KEY"

[[mcp.servers]]
name = "everything"
url = {toml_string(reference_server)}

[[mcp.teams]]
team = "conformance"
allow = ["everything/*"]
"""
    )
    env = dict(os.environ, SB_CONFORMANCE_KEY=KEY)
    proc = Process("gateway (conformance)", [str(binary()), "serve", "--config", str(config)], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    yield url
    proc.stop()


def run_suite(url: str) -> dict[str, tuple[int, int]]:
    """Runs every server scenario against `url`: name -> (passed, failed)."""
    done = subprocess.run(
        ["node", peers()["MCP_CONFORMANCE"], "server", "--url", url],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
    )
    results = {}
    for line in done.stdout.splitlines():
        match = SCENARIO.match(line.strip())
        if match:
            results[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    assert results, f"the suite printed no summary for {url}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return results


def test_the_suite_passes_through_the_gateway_as_it_does_directly(reference_server, gateway):
    direct = run_suite(reference_server)
    # Through the proxy the suite reaches the gateway on a loopback name, as a
    # local client would.
    port = int(gateway.rsplit(":", 1)[1])
    with KeyProxy(f"http://127.0.0.1:{port}", KEY) as proxy:
        through = run_suite(f"http://localhost:{proxy.port}/mcp/everything")
    for name, (passed, failed) in sorted(direct.items()):
        print(f"{name:40s} direct {passed}/{passed + failed}   through {through.get(name)}")
    passing = {name for name, (_, failed) in direct.items() if failed == 0}
    # The reference server passes the suite: a run that passed nothing directly
    # would make the comparison empty.
    assert len(passing) >= 25, f"only {len(passing)} scenarios pass directly: {direct}"
    regressions = {
        name: (direct[name], through.get(name))
        for name in passing
        if through.get(name) != direct[name]
    }
    assert not regressions, f"scenarios that pass directly but not through the gateway: {regressions}"
