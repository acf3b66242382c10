"""Interop tests of MCP 2026-07-28: the official MCP Python SDK's high-level `mcp.Client` in its
default `auto` mode (it sends `server/discover` first and would fall back to `initialize`)
against `ringmcp serve` over Streamable HTTP and `ringmcp stdio`. Each test asserts that the
client negotiated 2026-07-28 without falling back, then lists tools, calls one, completes an
input-required round trip (the SDK answers the elicitation through its callback and retries
with `inputResponses` and the sealed `requestState`), and receives progress notifications.
Servers come from conftest.py, the binary from test_http.py's helpers ($RINGMCP_BIN, else target/debug).
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from test_http import SCENARIO_TIMEOUT_SECONDS, Server, _ringmcp_bin

MODERN = "2026-07-28"
PROGRESS = [
    (0.0, 100.0, "Completed step 0 of 100"),
    (50.0, 100.0, "Completed step 50 of 100"),
    (100.0, 100.0, "Completed step 100 of 100"),
]


def stdio(pack: str) -> StdioServerParameters:
    return StdioServerParameters(command=str(_ringmcp_bin()), args=["stdio", "--pack", pack])


async def on_elicit(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert params.message == "What is your name?"
    return types.ElicitResult(action="accept", content={"name": "Ada"})


def run(target: Any, scenario: Any) -> None:
    async def main() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            async with Client(target, elicitation_callback=on_elicit, read_timeout_seconds=10) as client:
                assert client.protocol_version == MODERN
                assert client.session.discover_result is not None
                assert client.session.initialize_result is None
                assert client.server_info is not None and client.server_info.name.startswith("ringmcp")
                await scenario(client)

    anyio.run(main)


async def list_and_echo(client: Client) -> None:
    names = [t.name for t in (await client.list_tools()).tools]
    assert names == ["echo", "add", "sleep"]
    result = await client.call_tool("echo", {"text": "hi"})
    assert not result.is_error
    assert [c.text for c in result.content] == ["hi"]


async def input_and_progress(client: Client) -> None:
    result = await client.call_tool("test_input_required_result_elicitation", {})
    assert [c.text for c in result.content] == ["Hello, Ada!"]
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert [c.text for c in result.content] == ["Progress test completed: 3 notifications sent"]
    assert seen == PROGRESS


def test_http_lists_and_calls_in_the_modern_era(bench_server: Server) -> None:
    run(bench_server.mcp_url, list_and_echo)


def test_http_input_required_round_trip_and_progress(conformance_server: Server) -> None:
    run(conformance_server.mcp_url, input_and_progress)


def test_stdio_lists_and_calls_in_the_modern_era() -> None:
    run(stdio("bench"), list_and_echo)


def test_stdio_input_required_round_trip_and_progress() -> None:
    run(stdio("conformance"), input_and_progress)


def test_legacy_mode_still_negotiates_2025_11_25(bench_server: Server) -> None:
    async def main() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            async with Client(bench_server.mcp_url, mode="legacy") as client:
                assert client.protocol_version == "2025-11-25"
                assert client.session.initialize_result is not None
                await list_and_echo(client)

    anyio.run(main)
