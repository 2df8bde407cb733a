"""Billing: period quantities by the Polish rules, tariff amounts, exceptions, exports.

`engine.bill_service_point` is pure (dataclasses in, dataclasses out); `load` reads its inputs through the
store's API; `run` drives a whole billing run and `export` writes the files.
"""

from server.billing.engine import BillingConfig, bill_service_point
from server.billing.model import (
    Bill,
    Connection,
    Fault,
    Installation,
    Position,
    RegisterReading,
    Role,
    ServicePoint,
    Source,
    Tariff,
)
from server.billing.norms import NormTable
from server.billing.period import Period

__all__ = [
    "Bill", "BillingConfig", "Connection", "Fault", "Installation", "NormTable", "Period", "Position",
    "RegisterReading", "Role", "ServicePoint", "Source", "Tariff", "bill_service_point",
]
