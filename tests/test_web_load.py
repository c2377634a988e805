"""Fifty people at once on one `coach serve --llm scripted`: no errors, no crossed replies."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT, free_port

pytestmark = pytest.mark.slow
sys.path.insert(0, str(ROOT / "benchmarks"))
load = pytest.importorskip("bench_web_load")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    home = tmp_path_factory.mktemp("load_home")
    port = free_port()
    proc = load.start_server(home, port)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        load.stop_server(proc)


def _check(reports, sessions, turns):
    s = load.summary(reports, 1.0)
    assert s["errors"] == 0, s["first_errors"]
    assert s["crossings"] == 0, [c for r in reports for c in r.crossings][:5]
    assert s["sessions"] == sessions and s["turns"] == sessions * turns
    return s


def test_fifty_api_sessions_at_once_each_keep_their_own_conversation(url):
    reports = load.run(url, sessions=50, turns=2, mode="api")
    s = _check(reports, 50, 2)
    assert len({r.session for r in reports}) == 50
    print(f"api p50 {s['p50_s']:.2f}s p95 {s['p95_s']:.2f}s")


def test_fifty_browser_sessions_at_once_never_see_each_other(url):
    reports = load.run(url, sessions=50, turns=1, mode="ui")
    s = _check(reports, 50, 1)
    print(f"ui p50 {s['p50_s']:.2f}s p95 {s['p95_s']:.2f}s")
