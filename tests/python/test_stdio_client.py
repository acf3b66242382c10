"""Interop tests: the official MCP Python SDK (`mcp` on PyPI) against `ringmcp stdio`.

Every test spawns a fresh `ringmcp stdio` through the SDK's real stdio client
transport (`mcp.client.stdio.stdio_client`), wraps it in `mcp.ClientSession`,
performs the `initialize` handshake and then exercises one behaviour of the
default "bench" pack.

The binary is taken from $RINGMCP_BIN, else <repo>/target/debug/ringmcp
(build it with `cargo build`).  Tests are plain sync functions that call
`anyio.run`, so no async pytest plugin is needed; each scenario runs under
`anyio.fail_after` so a hung server fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "ringmcp"
SCENARIO_TIMEOUT_SECONDS = 20

Scenario = Callable[[ClientSession, Any], Awaitable[None]]


def _ringmcp_bin() -> Path:
    configured = os.environ.get("RINGMCP_BIN")
    path = Path(configured) if configured else DEFAULT_BIN
    source = "$RINGMCP_BIN" if configured else "the default location"
    if not path.is_file():
        pytest.fail(
            f"ringmcp binary not found at {path} ({source}); "
            "run `cargo build` in the repository root or set RINGMCP_BIN",
            pytrace=False,
        )
    if not os.access(path, os.X_OK):
        pytest.fail(f"ringmcp binary at {path} ({source}) is not executable", pytrace=False)
    return path


@pytest.fixture(scope="session")
def ringmcp_bin() -> Path:
    return _ringmcp_bin()


@pytest.fixture
def run_session(ringmcp_bin: Path, tmp_path: Path) -> Callable[[Scenario], None]:
    """Return `run(scenario)`: spawn the server, initialize, await `scenario(session, init_result)`.

    The server's stderr goes to a file; if the scenario fails, that log is
    printed so it shows up in pytest's captured output for the failing test.
    """

    def run(scenario: Scenario) -> None:
        params = StdioServerParameters(command=str(ringmcp_bin), args=["stdio"])
        log_path = tmp_path / "ringmcp.stderr"

        async def main() -> None:
            with open(log_path, "w", encoding="utf-8") as errlog:
                with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
                    async with stdio_client(params, errlog=errlog) as (read, write):
                        async with ClientSession(read, write) as session:
                            init = await session.initialize()
                            await scenario(session, init)

        try:
            anyio.run(main)
        except BaseException:
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            print(f"--- ringmcp stderr ({log_path}) ---\n{log}--- end ringmcp stderr ---")
            raise

    return run


def _only_text(result: Any) -> str:
    """The text of a result whose content is exactly one text block."""
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert block.type == "text", block
    return block.text


def test_initialize_reports_ringmcp_server_and_negotiated_version(run_session):
    async def scenario(session: ClientSession, init) -> None:
        assert init.server_info.name == "ringmcp"
        assert isinstance(init.server_info.version, str) and init.server_info.version
        assert isinstance(init.protocol_version, str) and init.protocol_version
        assert init.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        assert session.protocol_version == init.protocol_version
        assert init.capabilities.tools is not None
        assert init.capabilities.resources is not None
        assert init.capabilities.prompts is not None

    run_session(scenario)


def test_list_tools_returns_exactly_bench_tools(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        result = await session.list_tools()
        assert result.next_cursor is None
        tools = {tool.name: tool for tool in result.tools}
        assert set(tools) == {"echo", "add", "sleep"}
        assert len(result.tools) == 3, "duplicate tool names"

        echo_schema = tools["echo"].input_schema
        assert echo_schema["type"] == "object"
        assert "text" in echo_schema["required"]
        assert echo_schema["properties"]["text"]["type"] == "string"

    run_session(scenario)


def test_echo_round_trips_exact_text(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        result = await session.call_tool("echo", {"text": "hello from python"})
        assert result.is_error is False
        assert _only_text(result) == "hello from python"

    run_session(scenario)


def test_add_returns_structured_sum(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        # List first so the SDK knows add's outputSchema and validates the result against it.
        await session.list_tools()
        result = await session.call_tool("add", {"a": 2, "b": 3})
        assert result.is_error is False
        assert result.structured_content == {"sum": 5}
        assert _only_text(result).replace(" ", "") == '{"sum":5}'

    run_session(scenario)


def test_missing_required_argument_is_tool_error(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        result = await session.call_tool("echo", {})
        assert result.is_error is True
        assert "text" in _only_text(result)

    run_session(scenario)


def test_sleep_tool_answers_after_short_delay(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        result = await session.call_tool("sleep", {"ms": 10})
        assert result.is_error is False
        assert result.content, "sleep returned no content"

    run_session(scenario)


def test_readme_resource_is_listed_and_readable(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        listed = await session.list_resources()
        uris = {str(resource.uri) for resource in listed.resources}
        assert "ringmcp://bench/readme" in uris

        read = await session.read_resource("ringmcp://bench/readme")
        assert len(read.contents) >= 1
        contents = read.contents[0]
        assert str(contents.uri) == "ringmcp://bench/readme"
        assert contents.mime_type == "text/plain"
        assert isinstance(contents.text, str) and contents.text.strip()

    run_session(scenario)


def test_echo_resource_template_is_listed(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        listed = await session.list_resource_templates()
        templates = {template.uri_template for template in listed.resource_templates}
        assert "ringmcp://bench/echo/{text}" in templates

    run_session(scenario)


def test_greet_prompt_is_listed(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        listed = await session.list_prompts()
        prompts = {prompt.name: prompt for prompt in listed.prompts}
        assert "greet" in prompts
        arguments = {arg.name: arg for arg in prompts["greet"].arguments or []}
        assert arguments["name"].required is True

    run_session(scenario)


def test_get_greet_prompt_mentions_name(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        result = await session.get_prompt("greet", {"name": "Ada"})
        assert len(result.messages) == 1
        message = result.messages[0]
        assert message.content.type == "text"
        assert "Ada" in message.content.text

    run_session(scenario)


def test_ping_succeeds_after_initialize(run_session):
    async def scenario(session: ClientSession, _init) -> None:
        await session.send_ping()
        await session.send_ping()

    run_session(scenario)
