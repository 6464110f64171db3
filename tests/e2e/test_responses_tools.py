"""The gateway's own tool loop on the Responses API: `{"type": "mcp"}`
tools naming servers registered in the gateway (the real mcp-server-time
from PyPI), driven by the official OpenAI SDK. The model is the Anthropic
wire's mock, which calls the first tool it is offered and answers once it
has read a tool result."""

from __future__ import annotations

import json
import time

import openai
import pytest

from conftest import ADDRESS, Process, binary, gateway_env, sdk
from helpers import ALPHA_KEY, BETA_KEY
from test_mcp import peers, toml_string
from test_openapi import REST_KEY, rest_service  # noqa: F401

CLAUDE = "anthropic/claude-sonnet-5-5"
# The gateway process of this module, for its log lines.
PROCESS: dict[str, Process] = {}


@pytest.fixture(scope="module")
def tools_gateway(tmp_path_factory, mock_url, rest_service):
    config = tmp_path_factory.mktemp("tools") / "gateway.toml"
    config.write_text(
        f"""
[[teams]]
id = "alpha"
[[teams]]
id = "beta"
[[keys]]
id = "alpha-ci"
team = "alpha"
value_env = "SB_TEST_KEY_ALPHA"
[[keys]]
id = "beta-ci"
team = "beta"
value_env = "SB_TEST_KEY_BETA"
[providers.anthropic]
enabled = true
[quota]
ledger = ":memory:"

[[mcp.servers]]
name = "time"
command = {toml_string(peers()["MCP_TIME_SERVER"])}

# A REST API whose pages carry planted instructions, and the injection
# pack on tool results for alpha: a result that carries one never reaches
# the model.
[[mcp.servers]]
name = "web"
openapi = {toml_string(rest_service + "/openapi.json")}
base_url = {toml_string(rest_service)}
auth = {{ type = "header", name = "X-Api-Key", env = "SB_SHOP_KEY" }}

[[guardrails.bindings]]
team = "alpha"
models = ["mcp/*"]
packs = ["injection"]
action = "block"
phases = ["tool_result"]

[[mcp.teams]]
team = "alpha"
[[mcp.teams]]
team = "beta"
deny = ["time/get_current_time"]
"""
    )
    env = dict(gateway_env(mock_url), SWITCHBOARD_LISTEN="127.0.0.1:0", SB_SHOP_KEY=REST_KEY)
    proc = Process("gateway (tool loop)", [str(binary()), "serve", "--config", str(config)], env)
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    PROCESS["gateway"] = proc
    yield url
    proc.stop()


def clock(**extra) -> dict:
    return {"type": "mcp", "server_label": "clock", "server_url": "http://gateway/mcp/time", **extra}


def wait_for_tools(client, tool) -> dict:
    """The first response whose tool list is not empty (the server starts with the gateway)."""
    for _ in range(120):
        response = client.responses.create(model=CLAUDE, input="What time is it in UTC?", tools=[tool])
        listed = [i for i in response.output if i.type == "mcp_list_tools"]
        if listed and listed[0].tools:
            return response
        time.sleep(0.25)
    return response


def test_the_gateway_runs_the_tool_and_the_model_answers(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    response = wait_for_tools(alpha, clock(require_approval="never", allowed_tools=["get_current_time"]))
    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"], kinds
    listed = response.output[0]
    assert listed.server_label == "clock"
    assert [t.name for t in listed.tools] == ["get_current_time"]
    call = response.output[1]
    assert call.name == "get_current_time" and call.server_label == "clock"
    assert call.arguments == '{"timezone":"mock"}'
    # The real server refuses the mock's timezone: the model is told and answers.
    assert call.status == "failed" and call.error.type == "mcp_tool_execution_error"
    assert "mock" in json.dumps(call.error.content)
    assert response.output_text.startswith("Echo:")
    assert response.status == "completed"
    assert response.usage.input_tokens > 0


def test_an_approval_round_trip(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    first = wait_for_tools(alpha, clock(require_approval="always", allowed_tools=["get_current_time"]))
    requests = [item for item in first.output if item.type == "mcp_approval_request"]
    assert len(requests) == 1 and requests[0].name == "get_current_time"
    assert not [item for item in first.output if item.type == "mcp_call"]
    second = alpha.responses.create(
        model=CLAUDE,
        previous_response_id=first.id,
        input=[{"type": "mcp_approval_response", "approval_request_id": requests[0].id, "approve": True}],
        tools=[clock(require_approval="always", allowed_tools=["get_current_time"])],
    )
    kinds = [item.type for item in second.output]
    assert "mcp_call" in kinds and kinds[-1] == "message", kinds
    ran = [item for item in second.output if item.type == "mcp_call"][0]
    assert ran.approval_request_id == requests[0].id


def test_a_denied_tool_is_not_offered(tools_gateway):
    beta = sdk(f"{tools_gateway}/v1", BETA_KEY)
    response = wait_for_tools(beta, clock(require_approval="never"))
    names = [t.name for t in response.output[0].tools]
    assert "get_current_time" not in names and "convert_time" in names


def test_a_runaway_loop_stops_at_its_limit(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    wait_for_tools(alpha, clock(require_approval="never"))
    response = alpha.responses.create(
        model=CLAUDE, input="time?", tools=[clock(require_approval="never")], max_tool_calls=0
    )
    assert response.status == "failed"
    assert response.error.code == "tool_loop_limit"
    assert response.usage.input_tokens > 0, "the model call it made is counted"


def test_the_loop_streams_its_items(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    wait_for_tools(alpha, clock(require_approval="never", allowed_tools=["get_current_time"]))
    events = list(
        alpha.responses.create(
            model=CLAUDE,
            input="What time is it?",
            tools=[clock(require_approval="never", allowed_tools=["get_current_time"])],
            stream=True,
        )
    )
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["mcp_list_tools", "mcp_call", "message"]
    # Each step as it happened: the call (refused by the real server, which
    # does not know the mock's timezone) ends before the answer's text.
    kinds = [e.type for e in events]
    assert "response.mcp_list_tools.completed" in kinds, kinds
    assert kinds.index("response.mcp_call.in_progress") < kinds.index("response.mcp_call.failed")
    assert kinds.index("response.mcp_call.failed") < kinds.index("response.output_text.delta")
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_one_request_id_ties_the_model_calls_and_the_tool_call(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    tool = clock(require_approval="never", allowed_tools=["get_current_time"])
    wait_for_tools(alpha, tool)
    raw = alpha.responses.with_raw_response.create(model=CLAUDE, input="What time is it?", tools=[tool])
    request_id = raw.headers["x-request-id"]
    # Log lines are written off the request path: wait for them, with a deadline.
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in list(PROCESS["gateway"].stderr) if line and request_id in line]
        tool_calls = [line for line in lines if "tools/call" in line]
        model_calls = [line for line in lines if "tools/call" not in line]
        if (tool_calls and len(model_calls) >= 2) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(tool_calls) == 1, lines
    assert "get_current_time" in tool_calls[0]
    assert len(model_calls) >= 2, lines


def test_a_guardrail_blocks_an_injected_tool_result_inside_the_loop(tools_gateway):
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    web = {"type": "mcp", "server_label": "web", "server_url": "http://gateway/mcp/web",
           "require_approval": "never", "allowed_tools": ["fetch_page"]}
    response = wait_for_tools(alpha, web)
    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"], kinds
    call = response.output[1]
    assert call.name == "fetch_page"
    # The page never reached the model: the call is the gateway's refusal.
    assert call.output is None
    assert call.error.type == "mcp_protocol_error" and call.error.code == -32043
    assert "injection" in call.error.message, call.error
    assert "collector.example" not in response.model_dump_json()


def test_chat_completions_run_the_same_loop(tools_gateway):
    """An `mcp` entry in a chat request's tools: the gateway runs the loop
    and the SDK gets a plain chat completion, the calls it ran in the
    `tool_loop` extension field, streamed as chunks too, and the loop's
    dollar limit as the SDK's typed error."""
    alpha = sdk(f"{tools_gateway}/v1", ALPHA_KEY)
    tool = clock(require_approval="never", allowed_tools=["get_current_time"])
    wait_for_tools(alpha, tool)
    messages = [{"role": "user", "content": "What time is it?"}]
    completion = alpha.chat.completions.create(
        model=CLAUDE, messages=messages, tools=[tool], extra_body={"tool_loop": {"max_cost_usd": 0.5}}
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content.startswith("Echo:"), choice.message
    assert not choice.message.tool_calls
    report = completion.model_extra["tool_loop"]
    assert [call["name"] for call in report["calls"]] == ["get_current_time"], report
    # The real server refuses the mock's timezone; the model read that and answered.
    assert report["calls"][0]["status"] == "failed"
    assert report["model_calls"] == 2 and report["cost_usd"] > 0
    assert completion.usage.prompt_tokens > 0

    chunks = list(alpha.chat.completions.create(model=CLAUDE, messages=messages, tools=[tool], stream=True))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.startswith("Echo:"), chunks
    assert chunks[-1].model_extra["tool_loop"]["calls"][0]["name"] == "get_current_time"

    with pytest.raises(openai.BadRequestError) as raised:
        alpha.chat.completions.create(
            model=CLAUDE, messages=messages, tools=[tool], extra_body={"tool_loop": {"max_cost_usd": 1e-9}}
        )
    assert raised.value.code == "tool_loop_limit"
    assert raised.value.body["tool_loop"]["model_calls"] == 1
    assert raised.value.body["tool_loop"]["calls"] == []

    with pytest.raises(openai.BadRequestError) as raised:
        alpha.chat.completions.create(model=CLAUDE, messages=messages, tools=[clock()])
    assert raised.value.param == "tools[0].require_approval"
