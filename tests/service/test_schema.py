"""schemathesis generates requests from the app's own OpenAPI schema, valid and not, and
checks every response with all its checks: no server error, the documented status codes,
content types and shapes, invalid input refused, and authentication never ignored. (One
exception: the upload's file part is exempt from "invalid data must be refused", which
cannot tell a file's bytes from a number.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from batchport.service.app import create_app

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
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(db, worker=False))


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
