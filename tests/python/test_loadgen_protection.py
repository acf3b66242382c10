"""The protection layer driven by the load generator with exact accounting: every request
`loadgen` sends ends exactly one way (ok, one error code, timeout, lost), and the counts per
outcome are asserted exactly.

`loadgen` is taken from $LOADGEN_BIN, else <repo>/target/debug/loadgen (built by
`cargo test --workspace`); the server as in test_http.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from test_http import REPO_ROOT, _start_server

LOADGEN_TIMEOUT_SECONDS = 60


def _loadgen_bin() -> Path:
    configured = os.environ.get("LOADGEN_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "loadgen"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"no executable loadgen at {path}; run `cargo build -p ringmcp-loadgen` or set LOADGEN_BIN")
    return path


def loadgen(tmp_path: Path, *args: str) -> dict[str, Any]:
    """`loadgen run ARGS… --json F --quiet`; the report (its exit code is not checked: a run
    with errors exits 1 by design)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [str(_loadgen_bin()), "run", *args, "--json", str(report), "--quiet"],
        capture_output=True,
        text=True,
        timeout=LOADGEN_TIMEOUT_SECONDS,
    )
    if not report.exists():
        pytest.fail(f"loadgen wrote no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(report.read_text())


def run_against(tmp_path: Path, server_args: tuple[str, ...], url: str, *args: str) -> dict[str, Any]:
    """Starts `ringmcp serve --cores 1 --pack bench SERVER_ARGS…`, runs `loadgen run --url
    <url> --duration 1s --warmup 0s ARGS…` at it (`url` is `tcp` for NDJSON or `http` for
    /mcp), stops the server (it must exit 0) and returns loadgen's report."""
    server_gen = _start_server("bench", tmp_path / "ringmcp.stderr", server_args, cores=1)
    server = next(server_gen)
    target = f"tcp://{server.base_url.removeprefix('http://')}" if url == "tcp" else server.mcp_url
    try:
        return loadgen(tmp_path, "--url", target, "--duration", "1s", "--warmup", "0s", *args)
    finally:
        next(server_gen, None)


def assert_every_request_answered_once(r: dict[str, Any]) -> None:
    assert (r["lost"], r["duplicated"], r["mismatched"], r["timeouts"], r["connection_errors"]) == (0, 0, 0, 0, 0), r
    assert r["sent"] == r["ok"] + sum(r["errors"].values()), r


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
def test_a_breaker_opens_after_five_timeouts_and_refuses_the_rest(tmp_path: Path, protocol: str) -> None:
    # One core, one connection, one request in flight: the order is exact. `sleep` 300 ms times
    # out at 50 ms (its own timeout from `--tool-timeouts`, under the 5 min default) five times
    # in a row; the breaker then stays open (30 s, the default) for the
    # rest of the 1 s run, so every later call is refused at once.
    r = run_against(
        tmp_path,
        ("--tool-timeouts", "sleep=50"),
        "tcp",
        *("--protocol", protocol, "--connections", "1", "--inflight", "1"),
        *("--tool", "sleep", "--args", '{"ms":300}'),
    )
    assert_every_request_answered_once(r)
    assert r["ok"] == 0, r
    assert r["errors"].get("-32012") == 5, r
    assert r["errors"].get("-32011") == r["sent"] - 5, r
    assert r["sent"] > 100, f"refusals are immediate, so a 1 s run sends many: {r}"
    o = r["outcomes"]
    assert (o["ok"], o["tool_timeout"], o["breaker_open"], o["lost"]) == (0, 5, r["sent"] - 5, 0), o


def test_over_the_memory_budget_every_request_is_overloaded_and_none_is_lost(tmp_path: Path) -> None:
    # A 1 MiB budget: the server's own RSS is past the reject mark from the start, so every
    # 2026-07-28 POST (no session to refuse first) gets 503 with -32010 `reason: memory`.
    r = run_against(
        tmp_path, ("--memory-limit-bytes", "1048576"), "http", "--protocol", "2026-07-28", "--connections", "4"
    )
    assert_every_request_answered_once(r)
    o = r["outcomes"]
    assert r["sent"] > 0 and (o["ok"], o["overloaded"], o["lost"]) == (0, r["sent"], 0), r
    assert r["http_status"] == {"503": r["sent"]}, r


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
def test_a_rate_limit_answers_the_rest_429_and_loses_nothing(tmp_path: Path, protocol: str) -> None:
    # 20 tools/call per hour per address, one core: exactly 20 pass, every other call is 429
    # with -32013 (the 2025-11-25 handshake is not a tools/call, so it is not limited).
    r = run_against(
        tmp_path, ("--rate-limit", "ip:tools/call:20/h"), "http", "--protocol", protocol, "--connections", "2"
    )
    assert_every_request_answered_once(r)
    o = r["outcomes"]
    assert (o["ok"], o["rate_limited"], o["lost"]) == (20, r["sent"] - 20, 0), r
