"""Schema-driven fuzz of the whole API with schemathesis: no 5xx, status codes, content types and bodies
conform to the OpenAPI schema — each generated request sent as staff, as a customer and anonymously.

The app is built at import (schemathesis parametrizes at collection; its lazy-fixture loader does not work
with this pytest), over a seeded SQLite store in a temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from server.store import Store

from .conftest import STAFF, make_client  # noqa: TID252

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

_dir = tempfile.mkdtemp(prefix="amr-api-fuzz-")
_store = Store(f"sqlite:///{_dir}/fuzz.sqlite")
_store.upgrade()
_client, _settings = make_client(_store)
TOKENS = [f"Bearer {STAFF}", f"Bearer {_settings.issue_account_token(_store.account(number='A-001').id)[0]}", None]


@atexit.register
def _cleanup() -> None:
    _store.close()
    shutil.rmtree(_dir, ignore_errors=True)


schema = schemathesis.openapi.from_asgi("/openapi.json", _client.app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_fuzz(case):
    for token in TOKENS:
        case.call_and_validate(headers={"Authorization": token} if token else {}, checks=CHECKS)
