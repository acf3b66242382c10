"""Fixtures shared by the HTTP test modules: one `ringmcp serve` per module and pack (started
by test_http.py's `_start_server`, stopped with SIGTERM after the module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_http import Server, _start_server


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start_server("bench", tmp_path_factory.mktemp("bench") / "ringmcp.stderr")


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start_server("conformance", tmp_path_factory.mktemp("conformance") / "ringmcp.stderr")
