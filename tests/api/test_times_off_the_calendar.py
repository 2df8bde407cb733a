"""Times that are valid ISO 8601 but have no UTC datetime (year 1 east of Greenwich): found by a campaign of
malformed query parameters (2026-11-25) as 500s; now a 422 naming the parameter, like any bad input."""

from __future__ import annotations

import pytest

EDGE = "0001-01-01T00:00:00+14:00"


@pytest.mark.parametrize("url, param", [
    ("/routes/progress", "since"),
    ("/alarms", "since"),
    ("/alarms", "until"),
    ("/meters/1/readings", "until"),
    ("/service-points/SP-001/readings", "since"),
])
def test_back_office_time_without_a_utc_value_is_422(client, staff, url, param):
    r = client.get(url, params={param: EDGE}, headers=staff)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", param]


def test_portal_time_without_a_utc_value_is_422(client, jan):
    r = client.get("/accounts/A-001/readings", params={"since": EDGE}, headers=jan)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "since"]
    body = {"service_point": "SP-001", "meter_address": "10000002", "value": "1.000", "read_at": EDGE}
    r = client.post("/accounts/A-001/garden-readings", json=body, headers=jan)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "read_at"]


def test_the_same_instant_a_day_later_is_still_served(client, staff):
    assert client.get("/alarms", params={"since": "0001-01-02T00:00:00+14:00"}, headers=staff).status_code == 200
