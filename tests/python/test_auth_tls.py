"""The official MCP Python SDK over HTTPS with a bearer token: `ringmcp serve` with
`--tls-mode required` (a test CA and server certificate from `testpki init`) and
`--auth-mode required` (JWTs checked against `testpki`'s JWKS file). The client is the SDK's
`mcp.Client` on an `httpx2.AsyncClient` that trusts the test CA and sends
`Authorization: Bearer <token>` on every request (a pre-issued token: no OAuth flow), in the
2026-07-28 era (`auto`) and in the 2025-11-25 era (`legacy`). Without a token the server answers
401 with the exact `WWW-Authenticate` challenge and a JSON-RPC error body.

`testpki` is taken from $TESTPKI_BIN, else <repo>/target/debug/testpki; the server as in
test_http.py.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from test_http import (
    REPO_ROOT,
    SCENARIO_TIMEOUT_SECONDS,
    SHUTDOWN_TIMEOUT_SECONDS,
    _ringmcp_bin,
    _wait_for_port,
)

ISSUER = "https://as.test"


def _testpki_bin() -> Path:
    configured = os.environ.get("TESTPKI_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "testpki"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"no executable testpki at {path}; run `cargo build -p testpki` or set TESTPKI_BIN")
    return path


def pki_tool(*args: str) -> str:
    return subprocess.run([str(_testpki_bin()), *args], check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Secured:
    url: str
    pki: Path

    @property
    def ca(self) -> str:
        return str(self.pki / "ca.pem")

    def token(self, scope: str = "mcp:tools", aud: str | None = None) -> str:
        return pki_tool("token", str(self.pki), "--kid", "k-ed", "--aud", aud or self.url, "--iss", ISSUER, "--scope", scope, "--exp-s", "600")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    pki = tmp_path_factory.mktemp("pki")
    pki_tool("init", str(pki))
    port = free_port()
    url = f"https://127.0.0.1:{port}/mcp"
    log_path = pki / "ringmcp.stderr"
    args = [
        str(_ringmcp_bin()), "serve", "--listen", f"127.0.0.1:{port}", "--cores", "2", "--pack", "bench",
        "--tls-mode", "required", "--tls-cert-file", str(pki / "server.pem"), "--tls-key-file", str(pki / "server.key"),
        "--auth-mode", "required", "--auth-resource", url, "--auth-issuers", ISSUER,
        "--auth-authorization-servers", ISSUER, "--auth-jwks-file", str(pki / "jwks.json"),
    ]  # fmt: skip
    with open(log_path, "w", encoding="utf-8") as errlog:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog)
    try:
        _wait_for_port(proc, log_path)
        yield Secured(url, pki)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, log_path.read_text()


def http_client(s: Secured, token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(
        headers=headers, verify=ssl.create_default_context(cafile=s.ca), timeout=httpx2.Timeout(10, read=30)
    )


def session(s: Secured, mode: str, expected_version: str) -> None:
    async def main() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            async with http_client(s, s.token()) as hc:
                async with Client(streamable_http_client(s.url, http_client=hc), mode=mode) as client:
                    assert client.protocol_version == expected_version
                    names = [t.name for t in (await client.list_tools()).tools]
                    assert names == ["echo", "add", "sleep"]
                    result = await client.call_tool("echo", {"text": "over tls"})
                    assert not result.is_error
                    assert [c.text for c in result.content] == ["over tls"]

    anyio.run(main)


def test_https_bearer_session_in_the_modern_era(secured: Secured) -> None:
    session(secured, "auto", "2026-07-28")


def test_https_bearer_session_in_the_session_era(secured: Secured) -> None:
    session(secured, "legacy", "2025-11-25")


def test_no_token_is_401_with_the_challenge_and_a_json_rpc_body(secured: Secured) -> None:
    prm = secured.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

    async def main() -> None:
        async with http_client(secured, None) as hc:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            r = await hc.post(secured.url, json=body, headers={"Accept": "application/json, text/event-stream"})
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == f'Bearer resource_metadata="{prm}"'
            assert r.json()["error"]["code"] == -32600
            wrong = secured.token(aud="https://elsewhere.test/mcp")
            r = await hc.post(
                secured.url,
                json=body,
                headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {wrong}"},
            )
            assert r.status_code == 401
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
            doc = (await hc.get(prm)).json()
            assert doc["resource"] == secured.url
            assert doc["authorization_servers"] == [ISSUER]

    anyio.run(main)
