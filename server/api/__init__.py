"""The back-office and customer-portal HTTP API (FastAPI; OpenAPI at /openapi.json).

`create_app(store, settings)` builds the app over a `server.store.Store`; `amr api serve` runs it.
"""

from server.api.app import create_app
from server.api.auth import ApiSettings

__all__ = ["ApiSettings", "create_app"]
