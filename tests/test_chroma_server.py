"""Retrieval against a real Chroma server (`chroma run` on 127.0.0.1): the scale-out path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import COACH, child_env, free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma-data"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=child_env(ANONYMIZED_TELEMETRY="False"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_query_through_a_chroma_server(chroma_server, coach_home):
    env = child_env(COACH_CHROMA_URL=chroma_server)
    out = subprocess.run([COACH, "ingest"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "added" in out.stdout
    again = subprocess.run([COACH, "ingest"], capture_output=True, text=True, env=env, timeout=300)
    assert "added 0, updated 0, removed 0" in again.stdout
    q = subprocess.run(
        [COACH, "ask", "how do we find a couples therapist, is the gottman thing any good", "--json"],
        capture_output=True, text=True, env=env, timeout=300)
    assert q.returncode == 0, q.stderr
    hits = json.loads(q.stdout)
    assert hits and hits[0]["stage"] == "professional_help"
    # nothing was written to the local embedded index
    assert not (coach_home / "chroma").exists()
