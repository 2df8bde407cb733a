"""The crew view: a small web page the collector serves on the van's local network.

Stdlib only (http.server on a thread), so the van image needs nothing more and it works offline. One
static page polls `/api/state` every two seconds; the smaller endpoints serve tools and tests.

    /                  the page (static/index.html)
    /api/state         everything the page shows, in one document
    /api/summary       route counts, speed, GPS, sync state (outbox pending, last ack), pipeline counters
    /api/meters        the route's meters with status, last heard, RSSI, reading, alarms, at-risk reasons
    /api/out_of_route  meters heard that are not on the sheet
    /api/alarms        alarmed and implausible meters
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from collector.route import RouteProgress
from sync.outbox import Outbox

log = logging.getLogger(__name__)


class CrewState:
    """What the page shows, gathered from the route progress, the outbox and the pipeline."""

    def __init__(self, route: RouteProgress, *, outbox: Outbox | None = None,
                 pipeline_stats: Callable[[], dict[str, Any]] | None = None,
                 clock: Callable[[], dt.datetime] | None = None):
        self.route = route
        self.outbox = outbox
        self.pipeline_stats = pipeline_stats
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def sync(self) -> dict[str, Any]:
        if self.outbox is None:
            return {"enabled": False}
        try:
            s = self.outbox.stats()
        except Exception as e:  # a locked or failing database must not break the page
            return {"enabled": True, "error": str(e)}
        out = {"enabled": True, "pending": s.pending, "in_flight": s.in_flight, "last_ack_at": s.last_ack_at,
               "last_acked_seq": s.last_acked_seq, "acked_total": s.acked_total, "level": s.level,
               "used_bytes": s.used_bytes, "cap_bytes": s.cap_bytes, "oldest_pending": s.oldest_received_at,
               "state": "offline", "publisher": None}
        try:
            # the publisher (maybe another process) records its state in the outbox's meta table
            from sync.publisher import read_status

            pub = read_status(self.outbox)
            out["state"], out["publisher"] = pub.get("state", "offline"), pub.get("publisher")
        except Exception as e:  # no publisher module or a busy database: counts still show
            log.debug("sync status unavailable: %s", e)
        return out

    def summary(self) -> dict[str, Any]:
        now = self.clock()
        p = self.pipeline_stats() if self.pipeline_stats else {}
        at_risk = self.route.at_risk(now)
        counts = self.route.counts()
        counts["at_risk"] = len(at_risk)
        return {"now": now.isoformat(), "route_id": self.route.sheet.route_id, "name": self.route.sheet.name,
                "counts": counts, "speed_kmh": self.route.last_speed_kmh, "gps": p.get("gps"),
                "sync": self.sync(), "pipeline": p.get("frames", {}), "dedup": p.get("dedup", {}),
                "last_frame_at": p.get("last_frame_at")}

    def meters(self) -> list[dict[str, Any]]:
        risk = {r["meter_id"]: r["reasons"] for r in self.route.at_risk(self.clock())}
        out = self.route.meter_dicts()
        for m in out:
            m["at_risk"] = risk.get(m["meter_id"], [])
        return out

    def out_of_route(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.route.out_of_route()]

    def alarms(self) -> list[dict[str, Any]]:
        return self.route.alarms()

    def state(self) -> dict[str, Any]:
        foreign = self.out_of_route()
        foreign.sort(key=lambda f: f["last_heard"], reverse=True)
        return {"summary": self.summary(), "meters": self.meters(), "out_of_route": foreign[:500],
                "out_of_route_total": len(foreign), "alarms": self.alarms()}


def _page() -> bytes:
    return resources.files("collector.web").joinpath("static/index.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: CrewServer

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("crew view: " + fmt, *args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        st = self.server.state
        routes: dict[str, Callable[[], Any]] = {
            "/api/state": st.state, "/api/summary": st.summary, "/api/meters": st.meters,
            "/api/out_of_route": st.out_of_route, "/api/alarms": st.alarms,
        }
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, _page(), "text/html; charset=utf-8")
            elif path in routes:
                body = json.dumps(routes[path](), default=str).encode()
                self._send(HTTPStatus.OK, body, "application/json")
            else:
                self._send(HTTPStatus.NOT_FOUND, b'{"error": "not found"}', "application/json")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:
            log.exception("crew view %s failed", path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, json.dumps({"error": str(e)}).encode(),
                       "application/json")


class CrewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: CrewState, host: str = "0.0.0.0", port: int = 8080):
        self.state = state
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"

    def start(self) -> CrewServer:
        self._thread = threading.Thread(target=self.serve_forever, name="crew-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def parse_hostport(text: str, default_port: int = 8080) -> tuple[str, int]:
    if text.isdigit():
        return "0.0.0.0", int(text)
    host, _, port = text.rpartition(":")
    if not host:
        return text or "0.0.0.0", default_port
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"bad HOST:PORT {text!r}") from None
