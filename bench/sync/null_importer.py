"""An importer whose sink does everything but the database: parse, validate, rebuild every Frame and the
van's decode, then ack. Run by e2e_bench.py --sink null to measure the sync path alone."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.importer import Importer, ImporterConfig, IngestResult  # noqa: E402
from sync import messages as m  # noqa: E402
from sync.mqttconf import BrokerSettings  # noqa: E402


class NullSink:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def van_known(self, van_code: str) -> bool:
        return True

    def ingest(self, batch: m.BatchMessage) -> IngestResult:
        readings = 0
        for it in batch.items:
            f = it.to_frame()
            if it.decode and it.decode.get("ok"):
                readings += len(m.decoded_from_dict(it.decode, f.telegram).readings)
        dup = batch.batch_id in self.seen
        self.seen.add(batch.batch_id)
        return IngestResult(duplicate=dup, telegrams_new=len(batch.items), readings_new=readings)

    def dead_letter(self, payload: bytes, reason: str, detail: str, van_code: str | None, topic: str) -> None:
        print("dead letter", reason, detail, file=sys.stderr)


def main() -> None:
    url, client_id = sys.argv[1], sys.argv[2]
    imp = Importer(NullSink(), BrokerSettings.from_url(url), ImporterConfig(client_id=client_id, metrics_interval_s=5))
    signal.signal(signal.SIGTERM, lambda *_: imp.request_stop())
    imp.start()
    if imp.ready.wait(20):
        print("connected (session_present=?)", flush=True)
    imp._thread.join()


if __name__ == "__main__":
    main()
