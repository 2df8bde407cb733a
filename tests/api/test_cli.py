"""`amr api passwd|token|serve` against a real store and a real uvicorn process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from amr.cli import main as amr
from server.billing.sample import seed_sample


def test_passwd_and_token_commands(store, monkeypatch):
    seed_sample(store)
    monkeypatch.setenv("AMR_API_SECRET", "test-secret")
    r = CliRunner().invoke(amr, ["api", "passwd", "jan", "--db", store.url], input="pw-1\npw-1\n")
    assert r.exit_code == 0, r.output
    assert store.account_password_hash("jan").startswith("scrypt$")
    r = CliRunner().invoke(amr, ["api", "passwd", "nobody", "--db", store.url], input="x\nx\n")
    assert r.exit_code == 1 and "no account" in r.output
    r = CliRunner().invoke(amr, ["api", "token", "--account", "A-001", "--db", store.url])
    assert r.exit_code == 0 and r.output.startswith("acc.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_over_http(store):
    seed_sample(store)
    port = _free_port()
    env = {**os.environ, "AMR_API_STAFF_TOKENS": "cli-staff", "AMR_API_SECRET": "s"}
    proc = subprocess.Popen([sys.executable, "-m", "amr", "api", "serve", "--db", store.url, "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:   # wait for the server to come up (not a timing assertion: it only bounds the wait)
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert "/accounts/{number}/garden-readings" in httpx.get(f"{base}/openapi.json").json()["paths"]
        r = httpx.get(f"{base}/service-points/SP-001", headers={"Authorization": "Bearer cli-staff"})
        assert r.status_code == 200 and r.json()["account"] == "A-001"
        assert httpx.get(f"{base}/service-points/SP-001").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
