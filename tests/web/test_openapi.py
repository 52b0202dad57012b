"""Schemathesis against the OpenAPI document, in-process on the ASGI app: whatever it
sends with a valid token of each role, the API never answers with a server error, every
answer carries API-Version, and every refusal is problem+json with the Dutch field list."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from samenloop.node.web import accounts
from samenloop.node.web.actions import NodeContext
from samenloop.node.web.api import API_VERSION
from samenloop.node.web.app import create_app
from tests.web.conftest import USERS, assert_problem

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = int(os.environ.get("SAMENLOOP_FUZZ_EXAMPLES", "30"))  # more: deeper


def test_api_never_answers_with_a_server_error(fryslan: NodeContext) -> None:
    app = create_app(fryslan)
    tokens = {role: accounts.create_api_token(fryslan.store, name, by="test",
                                              now=fryslan.clock())
              for name, (role, _) in USERS.items()}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11  # every /api/v1 operation

    for operation in operations:
        @given(case=operation.as_strategy())
        # Random on developer machines, to keep finding new inputs; fixed in CI so a run
        # is reproducible (every input it ever found is a regression test elsewhere).
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  derandomize=os.environ.get("CI") == "true",
                  suppress_health_check=list(HealthCheck))
        def exercise(case: schemathesis.Case) -> None:
            for role in (None, "procesregisseur", "beheerder", "auditor"):
                headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.operation.label, role, response.text)
                headers = {name: values[-1] for name, values in response.headers.items()}
                assert headers.get("api-version") == API_VERSION, case.operation.label
                if response.status_code >= 400:
                    assert_problem(response.status_code, headers, response.json())

        exercise()


def test_api_times_are_iso_8601_with_a_time_zone(fryslan: NodeContext) -> None:
    """A melding's times were Unix floats: a client had to guess what they meant."""
    from fastapi.testclient import TestClient

    from samenloop.node import cases
    from samenloop.node.config import Procesregisseur
    from samenloop.node.store import NewMelding

    fryslan.store.record_meldingen([NewMelding(
        case_ref="NL-TIJD-1", procesregisseur_id="pr-1", from_node="zvh-noord-limburg",
        from_zvh="Zorg- en Veiligheidshuis Noord-Limburg",
        requester=Procesregisseur("pr-9", "Iemand", "077 123 4567", "iemand@example.org"),
        strength=3, query_id="q-tijd", purpose="triage", assess=False)],
        now=fryslan.clock(), audit=[])
    melding = next(m for m in cases.meldingen_for(fryslan.store, "pr-1")
                   if m.case_ref == "NL-TIJD-1")
    cases.handle_melding(fryslan.store, melding.id, "al_in_contact", procesregisseur_id="pr-1",
                         actor="regisseur",
                         now=fryslan.clock())
    token = accounts.create_api_token(fryslan.store, "regisseur", by="test",
                                      now=fryslan.clock())
    client = TestClient(create_app(fryslan))
    got = client.get("/api/v1/meldingen", headers={"Authorization": f"Bearer {token}"})
    row = next(m for m in got.json() if m["casus"] == "NL-TIJD-1")
    for field in ("ontvangen", "laatst", "afgehandeld"):
        moment = dt.datetime.fromisoformat(row[field])
        assert moment.tzinfo is not None, (field, row[field])
        assert abs(moment.timestamp() - fryslan.clock()) < 3600, (field, row[field])
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["MeldingUit"]
    assert schema["properties"]["ontvangen"]["format"] == "date-time"
