"""Property-based run of the OpenAPI schema against the live server: no input
gives a 5xx. The schema is taken from the app itself at collection time (the
server fixture is not up yet then); requests go over HTTP to the real server."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from conftest import write_config
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cfps_backend import migrate
from cfps_backend.app import create_app
from cfps_backend.config import load_settings


def _openapi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp) / "c.toml", Path(tmp) / "s.db")
        st = load_settings(str(cfg))
        migrate.upgrade(st.database_url)
        return create_app(st).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, server):
    case.call_and_validate(base_url=server.url, checks=[not_a_server_error], timeout=30)
