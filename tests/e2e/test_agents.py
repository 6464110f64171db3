"""The OpenAI Agents SDK (`openai-agents` from PyPI), unchanged, with its
model served through the gateway's Responses API: once with a hosted MCP
tool the gateway runs itself against the real mcp-server-time, once with
the gateway's `/mcp` endpoint as the agent's own MCP server. The model is
the Anthropic wire's mock, which calls the first tool it is offered and
answers once it has read a tool result."""

from __future__ import annotations

import pytest
from agents import Agent, HostedMCPTool, OpenAIResponsesModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI

from helpers import ALPHA_KEY
from test_openapi import rest_service  # noqa: F401
from test_responses_tools import CLAUDE, clock, tools_gateway, wait_for_tools  # noqa: F401
from conftest import sdk

# The SDK's traces go to OpenAI's servers by default; nothing leaves here.
set_tracing_disabled(True)


def client(url: str) -> AsyncOpenAI:
    # Closed by each test (`async with`): a client left to the garbage
    # collector would close its connections on the next test's event loop.
    return AsyncOpenAI(base_url=f"{url}/v1", api_key=ALPHA_KEY, max_retries=0)


def model(openai_client: AsyncOpenAI) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model=CLAUDE, openai_client=openai_client)


@pytest.mark.anyio
async def test_an_agent_with_a_hosted_mcp_tool_the_gateway_runs(tools_gateway):
    wait_for_tools(sdk(f"{tools_gateway}/v1", ALPHA_KEY), clock(require_approval="never"))
    async with client(tools_gateway) as openai_client:
        agent = Agent(
            name="clock",
            instructions="Answer with the time.",
            model=model(openai_client),
            tools=[HostedMCPTool(tool_config=clock(require_approval="never", allowed_tools=["get_current_time"]))],
        )
        result = await Runner.run(agent, "What time is it in UTC?")
    kinds = [item.type for item in result.new_items]
    assert kinds == ["mcp_list_tools_item", "tool_call_item", "message_output_item"], kinds
    # The tool call is the gateway's: an `mcp_call` the SDK only reports.
    call = result.new_items[1].raw_item
    assert call.type == "mcp_call" and call.name == "get_current_time"
    assert result.final_output.startswith("Echo:")


@pytest.mark.anyio
async def test_an_agent_using_the_gateways_mcp_endpoint(tools_gateway):
    wait_for_tools(sdk(f"{tools_gateway}/v1", ALPHA_KEY), clock(require_approval="never"))
    async with (
        client(tools_gateway) as openai_client,
        MCPServerStreamableHttp(
            params={"url": f"{tools_gateway}/mcp", "headers": {"Authorization": f"Bearer {ALPHA_KEY}"}},
            name="gateway",
        ) as server,
    ):
        agent = Agent(name="clock", instructions="Use the tools.", model=model(openai_client), mcp_servers=[server])
        result = await Runner.run(agent, "What time is it?")
    kinds = [item.type for item in result.new_items]
    assert "tool_call_item" in kinds and "tool_call_output_item" in kinds, kinds
    assert result.final_output.startswith("Echo:")
