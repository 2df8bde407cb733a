"""The back-office and portal API over a real store (SQLite; one PostgreSQL run in its own schema)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from server.api.auth import ApiSettings, hash_password, verify_password
from server.billing.period import Period
from server.billing.run import run_billing

from .conftest import login, make_client  # noqa: TID252


def test_openapi_documents_bearer_auth(client):
    spec = client.get("/openapi.json").json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "/accounts/{number}/garden-readings" in spec["paths"]


def test_authentication(client, staff, jan):
    assert client.get("/service-points").status_code == 401
    assert client.get("/service-points", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/service-points", headers=staff).status_code == 200
    assert client.post("/auth/token", json={"login": "jan", "password": "wrong"}).status_code == 401
    assert client.post("/auth/token", json={"login": "nobody", "password": "x"}).status_code == 401
    assert client.get("/health").json() == {"status": "ok"}


def test_tokens_expire_and_cannot_be_forged():
    s = ApiSettings(secret=b"a" * 32, token_ttl_s=60)
    tok, exp = s.issue_account_token(7, now=1000)
    assert s.verify(tok, now=1000).account_id == 7
    assert s.verify(tok, now=exp + 1) is None
    forged = tok.replace("acc.7.", "acc.8.")
    assert s.verify(forged, now=1000) is None
    assert ApiSettings(secret=b"b" * 32).verify(tok, now=1000) is None
    h = hash_password("pw")
    assert verify_password("pw", h) and not verify_password("pW", h) and not verify_password("pw", "junk")


def test_an_account_sees_only_its_own_data(client, jan):
    assert client.get("/accounts/A-001", headers=jan).status_code == 200
    assert client.get("/accounts/A-002", headers=jan).status_code == 403
    assert client.get("/accounts/NOPE", headers=jan).status_code == 403
    assert client.get("/accounts/A-002/consumption", headers=jan).status_code == 403
    for path in ("/service-points", "/service-points/SP-001", "/meters/1", "/alarms", "/billing/runs",
                 "/routes/progress"):
        assert client.get(path, headers=jan).status_code == 403, path
    body = {"service_point": "SP-003", "meter_address": "30000003", "value": "1"}
    assert client.post("/accounts/A-001/garden-readings", json=body, headers=jan).status_code == 404
    me = client.get("/accounts/A-001", headers=jan).json()
    assert [sp["code"] for sp in me["service_points"]] == ["SP-001"]


def test_portal_consumption_history(client, jan):
    r = client.get("/accounts/A-001/consumption?start=2026-10&end=2026-10", headers=jan)
    assert r.status_code == 200
    [hist] = r.json()
    [october] = hist["months"]
    assert (october["water_m3"], october["sewage_m3"], october["water_source"]) == ("10.000", "8.000", "radio")
    assert client.get("/accounts/A-001/consumption?start=2026-12&end=2026-10", headers=jan).status_code == 422
    assert client.get("/accounts/A-001/consumption?start=2020-01&end=2026-10", headers=jan).status_code == 422
    readings = client.get("/accounts/A-001/readings", headers=jan).json()
    assert {r["source"] for r in readings} == {"radio", "self_reading"}


def test_back_office_readings_and_consumption(client, staff, store):
    r = client.get("/service-points/SP-004/readings", headers=staff).json()
    assert [x["value"] for x in r] == ["1230.000", "3.200"]
    hist = client.get("/service-points/SP-004/consumption?start=2026-10&end=2026-10", headers=staff).json()
    assert hist["months"][0]["water_m3"] == "7.500"
    new = store.meter(identity=("DME", "40000005", 0x66, 0x16)).id
    assert client.get(f"/meters/{new}", headers=staff).json()["label"] == "DME-40000005-66-16"
    assert len(client.get(f"/meters/{new}/readings", headers=staff).json()) == 1
    [mh] = client.get(f"/meters/{new}/consumption?start=2026-10&end=2026-10", headers=staff).json()
    assert mh["months"][0]["meters"][0]["m3"] == "3.000"
    assert client.get("/meters/999999", headers=staff).status_code == 404
    assert client.get("/service-points/NOPE", headers=staff).status_code == 404
    assert client.get("/alarms?service_point=SP-001", headers=staff).json() == []
    assert client.get("/alarms?service_point=NOPE", headers=staff).status_code == 404


def test_route_progress_across_vans(client, staff, store):
    store.add_van("van-01")
    store.add_van("van-02")
    m = [store.meter(identity=k).id for k in (("APA", "10000001", 1, 7), ("KAM", "30000003", 0x1B, 0x16))]
    store.create_route("north", van="van-01", meter_ids=m)
    store.create_route("south", van="van-02", meter_ids=m[:1])
    r = client.get("/routes/progress?since=2026-11-01T00:00:00Z", headers=staff).json()
    assert [(x["route"], x["van"], x["total"], x["unread"]) for x in r] == [("north", "van-01", 2, 2),
                                                                            ("south", "van-02", 1, 1)]


def test_billing_runs_and_portal_bills(client, staff, jan, store, tmp_path):
    res = run_billing(store, Period.parse("2026-10"), out_dir=tmp_path)
    runs = client.get("/billing/runs", headers=staff).json()
    assert [(r["id"], r["status"], r["service_points"]) for r in runs] == [(res.run_id, "done", 4)]
    detail = client.get(f"/billing/runs/{res.run_id}", headers=staff).json()
    assert {b["service_point"]: b["gross"] for b in detail["bills"]}["SP-001"] == "108.70"
    assert client.get("/billing/runs/12345", headers=staff).status_code == 404
    bills = client.get("/accounts/A-001/bills", headers=jan).json()
    assert [(b["service_point"], b["gross"], b["sewage_m3"]) for b in bills] == [("SP-001", "108.70", "8.000")]


GARDEN = "/accounts/A-001/garden-readings"


def garden(value, read_at="2026-11-20T10:00:00Z", meter="10000002", sp="SP-001"):
    return {"service_point": sp, "meter_address": meter, "value": value, "read_at": read_at}


def test_garden_self_reading_validation(client, jan, store):
    ok = client.post(GARDEN, json=garden("7.5"), headers=jan)
    assert ok.status_code == 201, ok.text
    assert ok.json()["previous_value"] == "7.000" and ok.json()["meter"] == "APA-10000002-01-07"
    again = client.post(GARDEN, json=garden("7.5"), headers=jan)
    assert (again.status_code, again.json()["created"]) == (200, False)
    m = store.meter(identity=("APA", "10000002", 1, 7)).id
    assert [(r.value, r.source, r.entered_by) for r in store.readings(meter_id=m)][-1] == \
        (D("7.5"), "self_reading", "portal:A-001")

    def refused(body, fragment):
        r = client.post(GARDEN, json=body, headers=jan)
        assert r.status_code == 422, r.text
        assert fragment in r.text, r.text

    refused(garden("7.4", "2026-11-21T00:00:00Z"), "lower than the reading")
    refused(garden("4.9", "2026-10-20T00:00:00Z"), "lower than the reading")   # Oct 1 was 5
    refused(garden("8", "2026-10-20T00:00:00Z"), "higher than the later reading")
    refused(garden("9", "2026-12-01T00:00:00Z"), "future")
    refused(garden("500", "2026-11-24T00:00:00Z"), "implausible")
    refused(garden("8", meter="99999999"), "no garden sub-meter")
    refused(garden("-1"), "greater than or equal")
    store.upsert_meter("APA", "10000002", 1, 7, role="garden", legalised_until=date(2026, 11, 1))
    refused(garden("7.6", "2026-11-22T00:00:00Z"), "legalisation")


def test_garden_reading_by_staff_for_a_customer(client, staff):
    r = client.post(GARDEN, json=garden("7.2", "2026-11-10T00:00:00Z"), headers=staff)
    assert r.status_code == 201


@pytest.mark.postgres
def test_api_on_postgres(pg_store):
    store, _, _ = pg_store
    client, _ = make_client(store)
    jan = login(client, "jan", "jan-pass")
    [hist] = client.get("/accounts/A-001/consumption?start=2026-10&end=2026-10", headers=jan).json()
    assert hist["months"][0]["sewage_m3"] == "8.000"
    assert client.post(GARDEN, json=garden("7.5"), headers=jan).status_code == 201
    assert client.post(GARDEN, json=garden("7.4", "2026-11-21T00:00:00Z"), headers=jan).status_code == 422
    assert client.get("/accounts/A-002", headers=jan).status_code == 403
