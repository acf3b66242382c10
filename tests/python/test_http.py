"""Interop tests: the official MCP Python SDK (`mcp` on PyPI) against `ringmcp serve` over
Streamable HTTP, plus a scrape of its `/metrics` with the Prometheus client's own parser.

Each module-scoped fixture starts one `ringmcp serve --listen 127.0.0.1:0 --cores 2 --pack P`
(P is `bench` or `conformance`), reads the port from its `listening on 127.0.0.1:PORT` stderr
line, and sends SIGTERM at the end (the server drains and exits 0). Clients use the SDK's real
transport (`mcp.client.streamable_http.streamable_http_client`) wrapped in `mcp.ClientSession`.

The binary is taken from $RINGMCP_BIN, else <repo>/target/debug/ringmcp, as in
test_stdio_client.py. Tests are plain sync functions that call `anyio.run` under
`anyio.fail_after`, so a hung server fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, types
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "ringmcp"
SCENARIO_TIMEOUT_SECONDS = 20
STARTUP_TIMEOUT_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 10
LISTENING_LINE = re.compile(r"listening on 127\.0\.0\.1:(\d+) ")

Scenario = Callable[[ClientSession], Awaitable[None]]


@dataclass(frozen=True)
class Server:
    """A running `ringmcp serve`: where it listens and where its stderr goes."""

    base_url: str
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _ringmcp_bin() -> Path:
    configured = os.environ.get("RINGMCP_BIN")
    path = Path(configured) if configured else DEFAULT_BIN
    if not (path.is_file() and os.access(path, os.X_OK)):
        source = "$RINGMCP_BIN" if configured else "the default location"
        pytest.fail(
            f"no executable ringmcp at {path} ({source}); run `cargo build` or set RINGMCP_BIN",
            pytrace=False,
        )
    return path


def _start_server(pack: str, log_path: Path, extra: tuple[str, ...] = (), cores: int = 2) -> Iterator[Server]:
    """Start `ringmcp serve --pack <pack> EXTRA…` on a free port; yield it; SIGTERM it
    afterwards."""
    args = [str(_ringmcp_bin()), "serve", "--listen", "127.0.0.1:0", "--cores", str(cores), "--pack", pack, *extra]
    with open(log_path, "w", encoding="utf-8") as errlog:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog)
    try:
        server = Server(f"http://127.0.0.1:{_wait_for_port(proc, log_path)}", log_path)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
    if code != 0:
        pytest.fail(f"ringmcp (pack {pack}) exited with {code} after SIGTERM:\n{server.log()}", pytrace=False)


def _wait_for_port(proc: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        log = log_path.read_text(encoding="utf-8", errors="replace")
        if match := LISTENING_LINE.search(log):
            return int(match.group(1))
        if proc.poll() is not None:
            pytest.fail(f"ringmcp exited with {proc.returncode} before listening:\n{log}", pytrace=False)
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"ringmcp printed no listening line in {STARTUP_TIMEOUT_SECONDS} s:\n{log}", pytrace=False)


def run_session(server: Server, scenario: Scenario, **session_kwargs: Any) -> None:
    """Connect over Streamable HTTP, `initialize`, await `scenario(session)`; on failure print
    the server's stderr so it shows in pytest's captured output."""

    async def main() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            async with streamable_http_client(server.mcp_url) as (read, write):
                async with ClientSession(read, write, **session_kwargs) as session:
                    init = await session.initialize()
                    assert init.server_info.name.startswith("ringmcp")  # ringmcp, ringmcp-conformance
                    assert init.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
                    await scenario(session)

    try:
        anyio.run(main)
    except BaseException:
        print(f"--- ringmcp stderr ({server.log_path}) ---\n{server.log()}--- end ringmcp stderr ---")
        raise


def _only_text(result: types.CallToolResult) -> str:
    """The text of a result whose content is exactly one text block."""
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert block.type == "text", block
    return block.text


def test_http_list_tools_returns_exactly_bench_tools(bench_server: Server):
    async def scenario(session: ClientSession) -> None:
        result = await session.list_tools()
        assert result.next_cursor is None
        assert sorted(tool.name for tool in result.tools) == ["add", "echo", "sleep"]

    run_session(bench_server, scenario)


def test_http_echo_round_trips_exact_text(bench_server: Server):
    text = "hello over HTTP: ünïcødé, \"quotes\", \\ and\nnewline"

    async def scenario(session: ClientSession) -> None:
        result = await session.call_tool("echo", {"text": text})
        assert result.is_error is False
        assert _only_text(result) == text

    run_session(bench_server, scenario)


def test_http_progress_notifications_increase_and_precede_result(conformance_server: Server):
    events: list[tuple[str, Any]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append(("progress", (progress, total, message)))

    async def scenario(session: ClientSession) -> None:
        result = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        events.append(("result", result))
        assert result.is_error is False
        assert _only_text(result) == "Progress test completed: 3 notifications sent"

    run_session(conformance_server, scenario)

    # The SDK forgets a request's progress handler once its response arrives, so a
    # notification sent after the result would be dropped: all three must come first.
    assert [kind for kind, _ in events] == ["progress", "progress", "progress", "result"], events
    progress = [payload for kind, payload in events if kind == "progress"]
    values = [value for value, _, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values), values
    assert progress == [
        (0.0, 100.0, "Completed step 0 of 100"),
        (50.0, 100.0, "Completed step 50 of 100"),
        (100.0, 100.0, "Completed step 100 of 100"),
    ]


def test_http_sampling_request_is_answered_by_client_callback(conformance_server: Server):
    prompt = "What is 2 + 2?"
    sampled = "Four, said the fixed test model."
    requests: list[types.CreateMessageRequestParams] = []

    async def sample(
        _context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        requests.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=sampled),
            model="fixed-test-model",
            stop_reason="endTurn",
        )

    async def scenario(session: ClientSession) -> None:
        result = await session.call_tool("test_sampling", {"prompt": prompt})
        assert result.is_error is False, result
        assert _only_text(result) == f"LLM response: {sampled}"

    run_session(conformance_server, scenario, sampling_callback=sample)

    assert len(requests) == 1, requests
    (params,) = requests
    assert params.max_tokens == 100
    assert len(params.messages) == 1
    assert params.messages[0].role == "user"
    assert params.messages[0].content.type == "text"
    assert params.messages[0].content.text == prompt


def _scrape(server: Server) -> dict[str, Any]:
    """`/metrics`, parsed by prometheus_client: families by name (counters lose `_total`)."""
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/plain"
        text = response.read().decode("utf-8")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert len(families) > 0, text
    return families


def _tools_call_total(families: dict[str, Any]) -> float:
    samples = [
        sample
        for sample in families["ringmcp_messages"].samples
        if sample.name == "ringmcp_messages_total" and sample.labels.get("method") == "tools/call"
    ]
    assert {sample.labels["core"] for sample in samples} == {"0", "1"}, samples
    return sum(sample.value for sample in samples)


def _latency_count(families: dict[str, Any]) -> float:
    return sum(
        sample.value
        for sample in families["ringmcp_request_duration_seconds"].samples
        if sample.name == "ringmcp_request_duration_seconds_count"
    )


def test_metrics_parse_and_count_tools_calls(bench_server: Server):
    calls = 5
    before = _scrape(bench_server)

    assert before["ringmcp_messages"].type == "counter"
    assert before["ringmcp_request_duration_seconds"].type == "histogram"
    assert before["ringmcp_connections"].type == "gauge"
    bucket_bounds = {
        sample.labels["le"]
        for sample in before["ringmcp_request_duration_seconds"].samples
        if sample.name == "ringmcp_request_duration_seconds_bucket"
    }
    assert "+Inf" in bucket_bounds, bucket_bounds
    transports = {sample.labels["transport"] for sample in before["ringmcp_connections"].samples}
    assert "http" in transports, transports

    async def scenario(session: ClientSession) -> None:
        for i in range(calls):
            result = await session.call_tool("echo", {"text": f"call {i}"})
            assert _only_text(result) == f"call {i}"

    run_session(bench_server, scenario)
    after = _scrape(bench_server)

    assert _tools_call_total(after) - _tools_call_total(before) == calls
    # Every answered request lands in the latency histogram: its count grew by at least the calls.
    assert _latency_count(after) - _latency_count(before) >= calls
