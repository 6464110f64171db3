"""The MCP gateway with the official MCP Python SDK as the client, in both
protocol eras, against real tool servers from PyPI (mcp-server-time, stdio)
and npm (@modelcontextprotocol/server-everything, over stdio and over
streamable HTTP) behind the real gateway binary."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time

import anyio
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CreateMessageResult,
    ElicitResult,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
)

from conftest import ADDRESS, ROOT, Process, binary

ALPHA = "sk-mcp-alpha"
BETA = "sk-mcp-beta"
GAMMA = "sk-mcp-gamma"
DELTA = "sk-mcp-delta"
EPSILON = "sk-mcp-epsilon"
ADMIN = "sk-mcp-admin-0123456789"
TIME_TOOLS = {"time__get_current_time", "time__convert_time"}
# "legacy": the initialize handshake and Mcp-Session-Id sessions (2025-11-25);
# "auto": server/discover, which the gateway answers with 2026-07-28 (stateless).
MODES = ["legacy", "auto"]
ERA = {"legacy": "2025-11-25", "auto": "2026-07-28"}


def peers() -> dict[str, str]:
    """Installs the peers (idempotent) and returns their commands."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "mcp-peers")], check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_port() -> int:
    # server-everything takes its port from $PORT and cannot report one it
    # was given as 0; ask the OS for a free one and hand it over.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def everything_http():
    """server-everything over streamable HTTP; yields its /mcp URL."""
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    proc = Process("server-everything (http)", [peers()["MCP_EVERYTHING_SERVER"], "streamableHttp"], env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.proc.poll() is not None:
                proc.fail("did not listen", [])
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.stop()


@pytest.fixture(scope="module")
def mcp_gateway(tmp_path_factory, everything_http):
    commands = peers()
    config = tmp_path_factory.mktemp("mcp") / "gateway.toml"
    admin_hash = hashlib.sha256(ADMIN.encode()).hexdigest()
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"

[admin]
hash = "sha256:{admin_hash}"

[[teams]]
id = "alpha"
[[teams]]
id = "beta"

[[keys]]
id = "alpha-mcp"
team = "alpha"
value_env = "SB_MCP_ALPHA"
[[keys]]
id = "beta-mcp"
team = "beta"
value_env = "SB_MCP_BETA"
[[teams]]
id = "gamma"
[[keys]]
id = "gamma-mcp"
team = "gamma"
value_env = "SB_MCP_GAMMA"
[[teams]]
id = "delta"
[[keys]]
id = "delta-mcp"
team = "delta"
value_env = "SB_MCP_DELTA"
[[teams]]
id = "epsilon"
[[keys]]
id = "epsilon-mcp"
team = "epsilon"
value_env = "SB_MCP_EPSILON"

[mcp]
# What the admin API may start over stdio (none by default).
admin_commands = [{toml_string(commands["MCP_TIME_SERVER"])}]

[[mcp.servers]]
name = "time"
command = {toml_string(commands["MCP_TIME_SERVER"])}

[[mcp.servers]]
name = "everything"
command = {toml_string(commands["MCP_EVERYTHING_SERVER"])}
args = ["stdio"]

[[mcp.servers]]
name = "web"
url = {toml_string(everything_http)}
# Offered no client capabilities: it may ask clients for nothing.
client_requests = false

# Its sampling is answered by the gateway's own model, for the calling team.
[[mcp.servers]]
name = "thinker"
command = {toml_string(commands["MCP_EVERYTHING_SERVER"])}
args = ["stdio"]
client_requests = false
sampling_model = "mock/echo"

[providers.mock]
enabled = true

[[mcp.teams]]
team = "alpha"
deny = ["everything/get-env", "everything/trigger-*", "web/trigger-*", "thinker/*"]

[[mcp.teams]]
team = "beta"
allow = ["time/*"]

[[mcp.teams]]
team = "gamma"
allow = ["everything/trigger-long-running-operation", "web/trigger-long-running-operation"]

[[mcp.teams]]
team = "delta"
allow = [
  "everything/trigger-sampling-request", "everything/trigger-elicitation-request",
  "web/echo", "web/trigger-sampling-request", "thinker/trigger-sampling-request",
]

[[mcp.teams]]
team = "epsilon"
allow = [
  "everything/trigger-sampling-request", "everything/trigger-elicitation-request",
  "thinker/trigger-sampling-request",
]
sampling = false
elicitation = false

# A server's sampling request passes the team's guardrails on its way out.
[[guardrails.bindings]]
team = "delta"
models = ["mcp/*"]
packs = ["secrets"]
action = "block"
phases = ["tool_result"]
"""
    )
    env = dict(
        os.environ,
        SWITCHBOARD_LISTEN="127.0.0.1:0",
        SB_MCP_ALPHA=ALPHA,
        SB_MCP_BETA=BETA,
        SB_MCP_GAMMA=GAMMA,
        SB_MCP_DELTA=DELTA,
        SB_MCP_EPSILON=EPSILON,
    )
    proc = Process("gateway (mcp)", [str(binary()), "serve", "--config", str(config)], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    yield url
    proc.stop()


class Session:
    """An SDK client on /mcp with a gateway key, in one protocol era."""

    def __init__(self, url: str, key: str, mode: str, path: str = "/mcp", message_handler=None, **options):
        self.http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.client = Client(
            streamable_http_client(url + path, http_client=self.http),
            mode=mode,
            message_handler=message_handler,
            **options,
        )

    async def __aenter__(self) -> Client:
        await self.http.__aenter__()
        return await self.client.__aenter__()

    async def __aexit__(self, *exc) -> None:
        await self.client.__aexit__(*exc)
        await self.http.__aexit__(*exc)


async def names(client: Client) -> set[str]:
    """Tool names, once both upstreams have started (they start with the gateway)."""

    for _ in range(120):
        tools = {tool.name for tool in (await client.list_tools()).tools}
        if (
            TIME_TOOLS <= tools
            and any(name.startswith("everything__") for name in tools)
            and any(name.startswith("web__") for name in tools)
        ):
            return tools
        await anyio.sleep(0.25)
    return tools


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_merged_tools_and_calls_on_both_servers(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode) as client:
        assert client.protocol_version == ERA[mode]
        tools = await names(client)
        assert TIME_TOOLS <= tools
        assert "everything__echo" in tools
        # Denied tools are not listed.
        assert "everything__get-env" not in tools
        assert not any(name.startswith("everything__trigger-") for name in tools)

        result = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert not result.is_error
        assert '"timezone": "UTC"' in result.content[0].text

        result = await client.call_tool("everything__echo", {"message": "through the gateway"})
        assert not result.is_error
        assert result.content[0].text == "Echo: through the gateway"

        # The same npm server, reached over streamable HTTP.
        assert "web__get-sum" in tools
        result = await client.call_tool("web__get-sum", {"a": 2, "b": 40})
        assert not result.is_error
        assert "42" in result.content[0].text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_denied_tool_is_refused_with_a_clear_error(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode) as client:
        await names(client)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("everything__get-env", {})
        assert refused.value.error.code == -32040
        assert "not allowed for team `alpha`" in refused.value.error.message


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_teams_see_only_their_tools(mcp_gateway, mode):
    async with Session(mcp_gateway, BETA, mode) as client:

        for _ in range(120):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            if tools:
                break
            await anyio.sleep(0.25)
        assert tools == TIME_TOOLS
        with pytest.raises(MCPError) as refused:
            await client.call_tool("everything__echo", {"message": "x"})
        assert refused.value.error.code == -32040


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_one_server_endpoint_uses_upstream_names(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode, path="/mcp/time") as client:

        for _ in range(120):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            if tools:
                break
            await anyio.sleep(0.25)
        assert tools == {"get_current_time", "convert_time"}
        result = await client.call_tool(
            "convert_time",
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"},
        )
        assert not result.is_error, result


def test_unauthenticated_requests_get_401_with_a_challenge(mcp_gateway):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    response = httpx2.post(mcp_gateway + "/mcp", json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -32001
    response = httpx2.post(
        mcp_gateway + "/mcp", json=body, headers={**headers, "Authorization": "Bearer sk-wrong"}
    )
    assert response.status_code == 401


def test_unknown_server_is_404(mcp_gateway):
    response = httpx2.post(
        mcp_gateway + "/mcp/nope",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {ALPHA}"},
    )
    assert response.status_code == 404
    assert "no MCP server `nope`" in response.json()["error"]["message"]


def test_foreign_host_and_origin_are_refused(mcp_gateway):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    auth = {"Authorization": f"Bearer {ALPHA}", "Accept": "application/json, text/event-stream"}
    response = httpx2.post(mcp_gateway + "/mcp", json=body, headers={**auth, "Host": "evil.example"})
    assert response.status_code == 403
    response = httpx2.post(
        mcp_gateway + "/mcp", json=body, headers={**auth, "Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    # A page on a loopback origin (any port) is local code, as the MCP
    # specification's DNS-rebinding rule has it: served.
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "origin-check", "version": "1"},
        },
    }
    for origin in (mcp_gateway, "http://localhost:5173"):
        response = httpx2.post(
            mcp_gateway + "/mcp", json=initialize, headers={**auth, "Origin": origin}
        )
        assert response.status_code == 200, (origin, response.status_code, response.text)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_prompts_are_merged_and_fetched(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode) as client:
        await names(client)
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert {"everything__simple-prompt", "web__simple-prompt"} <= prompts, prompts
        result = await client.get_prompt("everything__simple-prompt")
        assert result.messages, result
        with pytest.raises(MCPError):
            await client.get_prompt("nobody__simple-prompt")
    async with Session(mcp_gateway, BETA, mode) as client:
        # Beta may use time/* only; the time server has no prompts (and the
        # gateway's own templates are `switchboard/*`).
        assert (await client.list_prompts()).prompts == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_gateways_prompt_templates_are_mcp_prompts(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        summarize = listed["switchboard__summarize"]
        arguments = {a.name: a.required for a in summarize.arguments}
        assert arguments == {"text": True, "bullets": False}
        result = await client.get_prompt("switchboard__summarize", {"text": "The sky is blue.", "bullets": "2"})
        text = result.messages[0].content.text
        assert "in 2 bullet points" in text and text.endswith("The sky is blue.")
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("switchboard__summarize", {"bullets": "2"})
        assert refused.value.error.code == -32602
        assert "text" in refused.value.error.message


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_completions_come_from_the_server_that_owns_the_prompt_or_template(mcp_gateway, mode):
    department = {"name": "department", "value": "E"}
    async with Session(mcp_gateway, ALPHA, mode) as client:
        await names(client)
        prompt = PromptReference(type="ref/prompt", name="everything__completable-prompt")
        assert (await client.complete(prompt, department)).completion.values == ["Engineering"]
        # The context reaches the server: the department narrows the names.
        leader = await client.complete(prompt, {"name": "name", "value": ""}, context_arguments={"department": "Sales"})
        assert leader.completion.values == ["David", "Eve", "Frank"]
        template = ResourceTemplateReference(type="ref/resource", uri="demo://resource/dynamic/text/{resourceId}")
        assert (await client.complete(template, {"name": "resourceId", "value": "7"})).completion.values == ["7"]
        with pytest.raises(MCPError):
            await client.complete(PromptReference(type="ref/prompt", name="nobody__completable-prompt"), department)
        with pytest.raises(MCPError):
            await client.complete(ResourceTemplateReference(type="ref/resource", uri="nowhere://{x}"), department)
    # One server's endpoint names the prompt as the server does.
    async with Session(mcp_gateway, ALPHA, mode, path="/mcp/everything") as client:
        prompt = PromptReference(type="ref/prompt", name="completable-prompt")
        assert (await client.complete(prompt, department)).completion.values == ["Engineering"]
    # Beta may use time/* only: everything's prompts are not Beta's to complete.
    async with Session(mcp_gateway, BETA, mode) as client:
        with pytest.raises(MCPError):
            await client.complete(PromptReference(type="ref/prompt", name="everything__completable-prompt"), department)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_log_messages_sent_during_a_call_reach_the_caller(mcp_gateway, mode):
    logs = []

    async def on_log(params) -> None:
        logs.append(params)

    # A session sets its level with logging/setLevel; a 2026-07-28 request
    # carries it in _meta, and without one hears nothing.
    options = {"logging_callback": on_log}
    if mode == "auto":
        options["log_level"] = "debug"
    async with Session(mcp_gateway, ALPHA, mode, **options) as client:
        await names(client)
        if mode == "legacy":
            await client.set_logging_level("debug")
        # server-everything sends one log message at once when simulated
        # logging starts, then more every 5 s (between calls: not passed on).
        await client.call_tool("everything__toggle-simulated-logging", {})
        try:
            with anyio.fail_after(10):
                while not logs:
                    await anyio.sleep(0.05)
        finally:
            await client.call_tool("everything__toggle-simulated-logging", {})
    levels = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
    assert logs[0].level in levels and "message" in str(logs[0].data), logs[0]


async def sample_by_client(context, params) -> CreateMessageResult:
    return CreateMessageResult(
        role="assistant", content=TextContent(type="text", text="sampled by the client's model"), model="client-model"
    )


def recording_sampler():
    """A sampling callback that answers like `sample_by_client` and keeps
    what it was asked."""
    asked = []

    async def sample(context, params):
        asked.append(params)
        return await sample_by_client(context, params)

    return asked, sample


def elicit_answer(action: str):
    async def answer(context, params) -> ElicitResult:
        return ElicitResult(action=action, content={"name": "Ada"} if action == "accept" else None)

    return answer


async def call_text(client: Client, tool: str, arguments: dict) -> tuple[bool, str]:
    """A tool's text and whether it failed, within a deadline: never a hang."""
    with anyio.fail_after(20):
        while tool not in await names_of(client):
            await anyio.sleep(0.25)
        result = await client.call_tool(tool, arguments)
    return bool(result.is_error), " ".join(block.text for block in result.content if hasattr(block, "text"))


async def names_of(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_a_servers_sampling_request_reaches_the_calling_client(mcp_gateway, mode):
    """A session's client is asked on its session; a 2026-07-28 client gets
    the question in an `input_required` result and calls again with its answer."""
    async with Session(mcp_gateway, DELTA, mode, sampling_callback=sample_by_client) as client:
        failed, text = await call_text(client, "everything__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
    assert not failed and "sampled by the client's model" in text, text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_server_requests_reach_the_client_on_one_servers_endpoint(mcp_gateway, mode):
    """The same round trips on /mcp/{server}, under the server's own names."""
    options = {"sampling_callback": sample_by_client, "elicitation_callback": elicit_answer("accept")}
    async with Session(mcp_gateway, DELTA, mode, path="/mcp/everything", **options) as client:
        failed, text = await call_text(client, "trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
        assert not failed and "sampled by the client's model" in text, text
        failed, text = await call_text(client, "trigger-elicitation-request", {})
        assert not failed and "accept" in text.lower() and "Ada" in text, text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_2026_client_gets_the_servers_question_as_input_required(mcp_gateway):
    """The round trip by hand: the session-era server asks mid-call; the
    gateway parks the call and answers `input_required`; the retry with the
    answer and the state finishes it, and the state is good only once."""
    async with Session(mcp_gateway, DELTA, "auto", sampling_callback=sample_by_client) as client:
        tool = "everything__trigger-sampling-request"
        await call_text(client, tool, {"prompt": "warm up", "maxTokens": 5})
        arguments = {"prompt": "hi", "maxTokens": 5}
        with anyio.fail_after(20):
            first = await client.session.call_tool(tool, arguments, allow_input_required=True)
        assert first.result_type == "input_required", first
        [(key, question)] = first.input_requests.items()
        assert question.method == "sampling/createMessage", question
        assert "hi" in str(question.params.messages), question
        answer = CreateMessageResult(
            role="assistant", content=TextContent(type="text", text="answered by hand"), model="m"
        )
        with anyio.fail_after(20):
            done = await client.session.call_tool(
                tool,
                arguments,
                input_responses={key: answer},
                request_state=first.request_state,
                allow_input_required=True,
            )
        assert "answered by hand" in str(done.content), done
        with pytest.raises(MCPError, match="requestState"):
            await client.session.call_tool(
                tool, arguments, input_responses={key: answer}, request_state=first.request_state
            )


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_a_server_whose_sampling_the_gateway_answers_never_asks_the_client(mcp_gateway, mode):
    """`sampling_model`: the gateway's model answers (here the built-in
    mock, which echoes), for the calling team; the client, which declared
    sampling, is never asked; a team whose policy forbids sampling is still
    refused."""
    asked, sample = recording_sampler()
    async with Session(mcp_gateway, DELTA, mode, sampling_callback=sample) as client:
        tool = "thinker__trigger-sampling-request"
        failed, text = await call_text(client, tool, {"prompt": "the colour of the sea", "maxTokens": 50})
    assert not failed and "the colour of the sea" in text, text
    assert "sampled by the client's model" not in text and asked == [], text
    options = {"sampling_callback": sample_by_client}
    async with Session(mcp_gateway, EPSILON, mode, **options) as client:
        failed, text = await call_text(client, tool, {"prompt": "hi", "maxTokens": 5})
    assert failed and "policy" in text, text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_server_without_client_requests_is_offered_no_client_capabilities(mcp_gateway):
    async with Session(mcp_gateway, DELTA, "legacy", sampling_callback=sample_by_client) as client:
        with anyio.fail_after(30):
            while "web__echo" not in (tools := await names_of(client)):
                await anyio.sleep(0.25)
    # server-everything registers its sampling tool only for a client that
    # offers sampling; the gateway offered `web` none.
    assert "web__trigger-sampling-request" not in tools, tools
    assert "everything__trigger-sampling-request" in tools, tools


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_server_requests_are_counted_by_server_method_and_outcome(mcp_gateway):
    async with Session(mcp_gateway, DELTA, "legacy", sampling_callback=sample_by_client) as client:
        failed, _ = await call_text(client, "everything__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
    assert not failed
    metrics = httpx2.get(mcp_gateway + "/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("switchboard_mcp_server_requests_total")
        and 'server="everything"' in line
        and 'method="sampling/createMessage"' in line
        and 'outcome="ok"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, metrics


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_a_sampling_request_carrying_a_secret_is_stopped_by_the_teams_guardrails(mcp_gateway, mode):
    asked, sample = recording_sampler()
    async with Session(mcp_gateway, DELTA, mode, sampling_callback=sample) as client:
        secret = "ghp_R7n2Kq9Lw4Xz8Vb3Mt6Yc1Hd5Fj0Gs2Pa4Ue"
        failed, text = await call_text(client, "everything__trigger-sampling-request", {"prompt": secret, "maxTokens": 5})
    assert failed and "guardrail" in text, text
    assert asked == [], "the request never reached the client"


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("action", ["accept", "decline", "cancel"])
async def test_a_servers_elicitation_reaches_the_calling_client(mcp_gateway, mode, action):
    async with Session(mcp_gateway, DELTA, mode, elicitation_callback=elicit_answer(action)) as client:
        failed, text = await call_text(client, "everything__trigger-elicitation-request", {})
    assert not failed and action in text.lower(), text
    if action == "accept":
        assert "Ada" in text, text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_the_capability_gets_an_error_not_a_hang(mcp_gateway, mode):
    # No elicitation callback: the client does not declare the capability.
    async with Session(mcp_gateway, DELTA, mode) as client:
        failed, text = await call_text(client, "everything__trigger-elicitation-request", {})
    assert failed, text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", MODES)
async def test_a_team_policy_refuses_sampling_and_elicitation(mcp_gateway, mode):
    options = {"sampling_callback": sample_by_client, "elicitation_callback": elicit_answer("accept")}
    async with Session(mcp_gateway, EPSILON, mode, **options) as client:
        failed, text = await call_text(client, "everything__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
        assert failed and "policy" in text, text
        failed, text = await call_text(client, "everything__trigger-elicitation-request", {})
        assert failed and "policy" in text, text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_resources_are_merged_and_read_from_their_server(mcp_gateway, mode):
    async with Session(mcp_gateway, ALPHA, mode) as client:
        await names(client)
        resources = (await client.list_resources()).resources
        assert resources, "server-everything lists resources"
        first = resources[0]
        result = await client.read_resource(str(first.uri))
        assert result.contents and str(result.contents[0].uri) == str(first.uri)
        with pytest.raises(MCPError):
            await client.read_resource("nowhere://nothing")
    async with Session(mcp_gateway, BETA, mode) as client:
        assert (await client.list_resources()).resources == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("server", ["everything", "web"])
async def test_progress_notifications_pass_through(mcp_gateway, mode, server):
    """The client's progress token reaches the upstream (stdio and HTTP), and
    the upstream's progress comes back under the client's token."""
    tool = f"{server}__trigger-long-running-operation"
    async with Session(mcp_gateway, GAMMA, mode) as client:
        for _ in range(120):
            if tool in {t.name for t in (await client.list_tools()).tools}:
                break
            await anyio.sleep(0.25)
        seen: list[tuple[float, float | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total))

        result = await client.call_tool(tool, {"duration": 0.6, "steps": 3}, progress_callback=on_progress)
        assert not result.is_error
        assert "Steps: 3" in result.content[0].text
        assert seen == [(1, 3), (2, 3), (3, 3)]
        # Without a progress token the same call answers without progress.
        seen.clear()
        result = await client.call_tool(tool, {"duration": 0.2, "steps": 2})
        assert not result.is_error
        assert seen == []


async def next_event(subscription, wanted, seconds: float):
    """The next event on a listen stream that `wanted` accepts, within `seconds`."""
    with anyio.fail_after(seconds):
        async for event in subscription:
            if wanted(event):
                return event
    raise AssertionError("the listen stream ended")


def admin(method: str, url: str, body: dict | None = None) -> httpx2.Response:
    return httpx2.request(method, url, json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


@pytest.mark.anyio
async def test_listen_stream_hears_servers_added_and_removed(mcp_gateway):
    """A 2026-07-28 client's `subscriptions/listen` stream is told when the
    registry changes through the admin API."""
    async with Session(mcp_gateway, ALPHA, "auto") as client:
        assert client.protocol_version == "2026-07-28"
        await names(client)
        async with client.listen(tools_list_changed=True, prompts_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed is True
            assert subscription.honored.prompts_list_changed is True
            clock = {"name": "clock", "command": peers()["MCP_TIME_SERVER"]}
            response = admin("POST", mcp_gateway + "/admin/mcp/servers", clock)
            assert response.status_code == 201, response.text
            try:
                await next_event(subscription, lambda e: isinstance(e, ToolsListChanged), 30)
                tools = {tool.name for tool in (await client.list_tools()).tools}
                for _ in range(120):
                    if "clock__get_current_time" in tools:
                        break
                    await anyio.sleep(0.25)
                    tools = {tool.name for tool in (await client.list_tools()).tools}
                assert "clock__get_current_time" in tools
            finally:
                response = admin("DELETE", mcp_gateway + "/admin/mcp/servers/clock")
                assert response.status_code == 200, response.text
            await next_event(subscription, lambda e: isinstance(e, ToolsListChanged), 30)
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert not any(name.startswith("clock__") for name in tools)


DYNAMIC = "demo://resource/dynamic/text/7"


async def start_simulated_updates(client: Client) -> None:
    """server-everything's updates toggle; "Started" sends one at once."""
    for _ in range(2):
        result = await client.call_tool("everything__toggle-subscriber-updates", {})
        if "Started" in result.content[0].text:
            return
    raise AssertionError("server-everything did not start its updates")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
# resources/subscribe is the session era's way, exercised here on purpose.
@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
async def test_resource_templates_and_subscriptions(mcp_gateway, mode):
    """Templates are merged and reads follow them; an upstream's
    `notifications/resources/updated` reaches the subscribed client, by
    `resources/subscribe` (legacy) or on its listen stream (2026-07-28)."""
    updated: list[str] = []

    async def on_message(message) -> None:
        if getattr(message, "method", None) == "notifications/resources/updated":
            updated.append(str(message.params.uri))

    async with Session(mcp_gateway, ALPHA, mode, message_handler=on_message) as client:
        await names(client)
        templates = (await client.list_resource_templates()).resource_templates
        assert "demo://resource/dynamic/text/{resourceId}" in {t.uri_template for t in templates}
        result = await client.read_resource(DYNAMIC)
        assert result.contents and str(result.contents[0].uri) == DYNAMIC

        if mode == "legacy":
            await client.subscribe_resource(DYNAMIC)
            await start_simulated_updates(client)
            with anyio.fail_after(15):
                while DYNAMIC not in updated:
                    await anyio.sleep(0.1)
            await client.unsubscribe_resource(DYNAMIC)
        else:
            async with client.listen(resource_subscriptions=[DYNAMIC]) as subscription:
                assert list(subscription.honored.resource_subscriptions) == [DYNAMIC]
                await start_simulated_updates(client)
                # At once when the upstream subscription was in place, else
                # at the next 5 s tick.
                event = await next_event(subscription, lambda e: isinstance(e, ResourceUpdated), 15)
                assert event.uri == DYNAMIC
