"""A private Mosquitto built from the shipped deploy/mosquitto config, for tests, benchmarks and demos.

The shipped config is rendered with its paths moved into a work directory and its listeners moved to
free loopback ports; every other setting (persistence, queue limits, ACL, password file) is exactly
what production runs, so a test against this broker tests the config we ship. The system broker on
1883 is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on 127.0.0.1:{port}") from None
            time.sleep(0.05)


@dataclass
class LocalBroker:
    """`LocalBroker(workdir, users=[...]).start()`; `.kill9()`, `.restart()`, `.stop()`.

    `plain_port` is the loopback listener (password + ACL), `tls_port` the TLS listener; credentials of
    every user are in `.passwords`."""

    workdir: Path
    users: list[str] = field(default_factory=lambda: ["importer"])
    tls: bool = True
    overrides: dict[str, str] = field(default_factory=dict)
    plain_port: int = 0
    tls_port: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.etc = self.workdir / "etc"
        self.data = self.workdir / "data"
        self.log = self.workdir / "mosquitto.log"

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "acl", self.etc / "acl")
        subprocess.run(
            [sys.executable, str(DEPLOY / "gen_credentials.py"), "--out", str(self.etc), *self.users],
            check=True, stdout=subprocess.DEVNULL,
        )
        for u in self.users:
            env = (self.etc / "credentials" / f"{u}.env").read_text()
            self.passwords[u] = next(x.split("=", 1)[1] for x in env.splitlines() if x.startswith("AMR_MQTT_PASSWORD"))
        if self.tls and not (self.etc / "certs" / "server.crt").exists():
            subprocess.run(["sh", str(DEPLOY / "gen_test_certs.sh"), str(self.etc / "certs"), "localhost"],
                           check=True, stdout=subprocess.DEVNULL)
        self.plain_port = self.plain_port or free_port()
        self.tls_port = self.tls_port or free_port()
        (self.workdir / "mosquitto.conf").write_text(self.render())

    def render(self) -> str:
        out = []
        in_tls_listener = False
        for line in (DEPLOY / "mosquitto.conf").read_text().splitlines():
            words = line.split()
            key = words[0] if words and not line.startswith("#") else ""
            if key == "listener":
                in_tls_listener = words[1] == "8883"
                if in_tls_listener:
                    if not self.tls:
                        continue
                    line = f"listener {self.tls_port} 127.0.0.1"
                else:
                    line = f"listener {self.plain_port} 127.0.0.1"
            elif in_tls_listener and not self.tls and key in {"protocol", "cafile", "certfile", "keyfile",
                                                                 "tls_version", "require_certificate"}:
                continue
            elif key in self.overrides:
                line = f"{key} {self.overrides[key]}"
            line = line.replace("/etc/mosquitto/amr", str(self.etc)).replace("/var/lib/mosquitto/amr", str(self.data))
            out.append(line)
        present = {ln.split()[0] for ln in out if ln.strip() and not ln.startswith("#")}
        out += [f"{k} {v}" for k, v in self.overrides.items() if k not in present]
        # Tests run as root; keep the broker as root so it can read the 0600 files it was given.
        if os.geteuid() == 0 and "user" not in present:
            out.append("user root")
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalBroker:
        if not (self.workdir / "mosquitto.conf").exists():
            self.prepare()
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.workdir / "mosquitto.conf")],
            stdout=logf, stderr=logf, start_new_session=True,
        )
        logf.close()
        try:
            wait_port(self.plain_port)
        except TimeoutError:
            raise RuntimeError(f"mosquitto did not start:\n{self.log.read_text()[-2000:]}") from None
        return self

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def restart(self, *, kill: bool = False) -> None:
        self.kill9() if kill else self.stop()
        # The listening socket may linger for a moment after a kill.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ca_file(self) -> Path:
        return self.etc / "certs" / "ca.crt"
