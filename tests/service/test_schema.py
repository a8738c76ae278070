"""schemathesis generates requests from the app's own OpenAPI schema, valid and not, and
checks every response with all its checks: no server error, the documented status codes,
content types and shapes, invalid input refused, and authentication never ignored. (One
exception: the upload's file part is exempt from "invalid data must be refused", which
cannot tell a file's bytes from a number.)"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from batchport import run_import
from batchport.service.app import create_app
from batchport.service.throttle import Throttle

CASES = {"run": 0}
#: The admin token of the database under test, for the auth provider below.
TOKEN = {"admin": ""}


@schemathesis.auth()
class AdminToken:
    """Authenticates generated requests as the admin (schemathesis also tries without)."""

    def get(self, case, context):
        return TOKEN["admin"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module", autouse=True)
def count_cases():
    """Says how many generated requests ran (run with -s to see it)."""
    yield
    print(f"\nschemathesis: {CASES['run']} generated cases ran")


@pytest.fixture
def api_schema(db, tokens):
    TOKEN["admin"] = tokens["root"]
    app = create_app(db, worker=False, throttle=Throttle(limit=10**6))  # not an attack
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
def test_api_follows_its_schema(case):
    CASES["run"] += 1
    excluded = []
    if (case.method, case.path) == ("POST", "/sessions"):
        # A file part is bytes: the same bytes sent as "a number" are still a valid file,
        # so "invalid data accepted" cannot apply to it (every other check still runs).
        excluded.append(schemathesis.checks.negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded)


def _broken(answer: httpx.Response, body: object) -> httpx.Response:
    """The answer with another body: what a server whose shapes drifted would send."""
    broken = httpx.Response(
        answer.status_code,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
        request=answer.request,
    )
    broken.elapsed = answer.elapsed
    return broken


@pytest.mark.parametrize(
    ("path", "break_shape"),
    [
        ("/jobs", lambda body: {**body, "jobs": [{**body["jobs"][0], "rows_total": "ten"}]}),
        ("/jobs", lambda body: {**body, "jobs": [{"job_id": body["jobs"][0]["job_id"]}]}),
        ("/accounts", lambda body: [{**body[0], "token": "leaked"}]),
        ("/health", lambda body: {"state": body["status"]}),
    ],
    ids=["wrong type", "missing fields", "undeclared field", "renamed field"],
)
def test_the_schema_check_fails_a_response_that_strays_from_its_shape(
    db, tokens, csv_file, path, break_shape
):
    """The schema test checks shapes for real: the app's own answer passes the response
    check, the same answer with its shape broken fails it."""
    run_import(db, "departments", csv_file([["code", "name"], ["HQ", "Head office"]]), actor="t")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(db, worker=False))
    case = schema[path]["GET"].Case(headers={"Authorization": f"Bearer {tokens['root']}"})
    with TestClient(create_app(db, worker=False)) as client:
        answer = client.get(path, headers=case.headers)
    assert answer.status_code == 200
    shape = [schemathesis.checks.response_schema_conformance]
    case.validate_response(answer, checks=shape)  # the real answer conforms
    with pytest.raises(schemathesis.checks.FailureGroup) as failed:
        case.validate_response(_broken(answer, break_shape(answer.json())), checks=shape)
    assert failed.group_contains(Exception, match="Response violates schema")
