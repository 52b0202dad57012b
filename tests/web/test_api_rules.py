"""The NL API Design Rules for the node's HTTP API (issue #14): API-Version on every answer,
errors as RFC 9457 problem details with the Dutch field list, the OpenAPI document at
/api/v1/openapi.json without sign-in, no identifier in any URI, and a Spectral lint of
the served document against docs/api/adr-ruleset.yml."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from samenloop.node import cases
from samenloop.node.check import CheckRefused
from samenloop.node.web import accounts, actions
from samenloop.node.web.actions import NodeContext, Refused
from samenloop.node.web.api import API_VERSION, PROBLEM_JSON
from samenloop.node.web.app import API_REFUSALS, api_problem, create_app, problem
from tests.support import spectral
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, TRIAGE_CASE, assert_problem, web_context

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / "docs" / "api" / "adr-ruleset.yml"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# Words of a person's identifiers: none may name a path or query parameter anywhere.
IDENTIFIER_WORDS = re.compile(r"naam|voornam|tussenvoegsel|geboorte|bsn|persoon|birth|name",
                              re.I)
CHECK_BODY = {"casus": TRIAGE_CASE, "doel": "triage: samenloop met ander ZVH",
              "personen": [{"achternaam": "Visser", "voornamen": "Karin",
                            "geboortedatum": "1980-01-01", "geboorteplaats": "Sneek"}]}


def _token(ctx: NodeContext, username: str) -> dict[str, str]:
    token = accounts.create_api_token(ctx.store, username, by="test", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


def _refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert_problem(status, response.headers, body)
    return body


def test_every_answer_carries_api_version_and_every_error_is_problem_details(
        client: TestClient, fryslan: NodeContext, net: Harness) -> None:
    """Before: errors were {"detail": [...]} as application/json, and no answer said which
    version of the API gave it."""
    regisseur, beheerder = _token(fryslan, "regisseur"), _token(fryslan, "beheerder")
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["API-Version"] == API_VERSION
    response = client.get("/api/v1/status", headers=beheerder)
    assert response.status_code == 200 and response.headers["API-Version"] == API_VERSION

    problem = _refused(client.post("/api/v1/checks", json=CHECK_BODY), 401)
    assert problem["title"] == "Niet geauthenticeerd" and problem["fouten"][0]["veld"] == \
        "authorization"
    assert client.post("/api/v1/checks", json=CHECK_BODY).headers["WWW-Authenticate"] == "Bearer"
    _refused(client.get("/api/v1/status", headers=regisseur), 403)
    # An unknown URI is refused without echoing it (a client may have put a name in it).
    problem = _refused(client.get("/api/v1/personen/Visser-1980-01-01"), 404)
    assert "Visser" not in json.dumps(problem)
    _refused(client.get("/api/v2/checks"), 404)
    response = client.get("/api/v1/checks")
    _refused(response, 405)
    assert response.headers["Allow"] == "POST"
    problem = _refused(client.post("/api/v1/checks", headers=regisseur,
                                   json={**CHECK_BODY, "casus": "F-2026-404"}), 404)
    assert problem["fouten"][0]["veld"] == "casus"
    _refused(client.post("/api/v1/casussen", headers=regisseur, json={"casus": TRIAGE_CASE}),
             409)
    _refused(client.post("/api/v1/checks", headers=regisseur,
                         content=b"{" + b" " * (fryslan.web.max_body_bytes * 40) + b"}"), 413)
    problem = _refused(client.post("/api/v1/checks", headers=regisseur, json={
        **CHECK_BODY, "personen": [{**CHECK_BODY["personen"][0],  # type: ignore[dict-item]
                                    "geboortedatum": "2999-01-01"}]}), 422)
    assert problem["fouten"] == [{"veld": "geboortedatum", "persoon": 1,
                                  "melding": "geboortedatum ligt in de toekomst"}]
    assert "Visser" not in json.dumps(problem)
    problem = _refused(client.post("/api/v1/checks", headers=regisseur,
                                   json={"casus": "X", "onbekend": 1}), 422)
    assert len(problem["fouten"]) > 1 and "andere fouten" in problem["detail"]
    problem = _refused(client.post("/api/v1/gebruikers", headers=beheerder, json={
        "gebruikersnaam": "regisseur", "rol": "auditor", "wachtwoord": "x" * 16}), 422)
    assert problem["fouten"] == [{"veld": "gebruikersnaam",
                                  "melding": "deze gebruikersnaam bestaat al"}]

    limited = web_context(net, FRYSLAN, checks_per_user_per_hour=0)
    with TestClient(create_app(limited)) as limited_client:
        response = limited_client.post("/api/v1/checks", headers=regisseur, json=CHECK_BODY)
        problem = _refused(response, 429)
    assert problem["fouten"][0]["veld"] == "limiet"
    assert response.headers["Retry-After"] == "3600"  # the hour's limit is free by then


def test_every_refusal_class_maps_to_its_status_at_the_api_edge(fryslan: NodeContext) -> None:
    """House style §3: one table from class to status. A subclass added without its status
    would reach the API as a 500; every one of them, and every class the handler takes,
    must come out as problem+json with its own status."""

    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    app = create_app(fryslan)
    for refusal in API_REFUSALS:
        assert refusal in app.exception_handlers, refusal
    for cls in subclasses(CheckRefused) | subclasses(cases.CaseActionRefused):
        exc = cls("veld", "een melding")
        status = actions.status_of(exc, actions.CHECK_STATUS if isinstance(exc, CheckRefused)
                                   else actions.CASE_STATUS)
        assert status == actions.CHECK_STATUS.get(cls, actions.CASE_STATUS.get(cls, 422)), cls
        retry = getattr(exc, "retry_after", None)
        response = api_problem(Refused([actions.FieldError("veld", "een melding")], status,
                                       retry))
        body = json.loads(bytes(response.body))
        assert_problem(status, response.headers, body)
        assert body["fouten"] == [{"veld": "veld", "melding": "een melding"}]
    cases_of_edge: list[tuple[Exception, int]] = [
        (accounts.AccountError("wachtwoord", "te kort"), 422),
        (RequestValidationError([{"type": "missing", "loc": ("body", "doel")}]), 422),
        (StarletteHTTPException(404), 404), (StarletteHTTPException(405), 405),
        (StarletteHTTPException(400), 400), (RuntimeError("anything else"), 500)]
    for exc, status in cases_of_edge:
        response = api_problem(exc)
        assert_problem(status, response.headers, json.loads(bytes(response.body)))


def test_openapi_document_is_readable_without_sign_in_where_the_rules_put_it(
        client: TestClient) -> None:
    """API-51: at the server URL + /openapi.json, for anyone; API-16, API-20, API-56,
    API-57, problem details, operationIds and tags as the rules want them."""
    response = client.get("/api/v1/openapi.json")  # no token, no session
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert [s["url"] for s in doc["servers"]] == ["/api/v1"]
    assert SEMVER.match(doc["info"]["version"]) and doc["info"]["version"] == API_VERSION
    assert doc["info"]["contact"]["name"] and doc["info"]["contact"]["url"]
    operations = [(path, method, op) for path, item in doc["paths"].items()
                  for method, op in item.items()]
    assert len(operations) == 11
    assert len({op["operationId"] for _, _, op in operations}) == len(operations)
    tags = {t["name"] for t in doc["tags"]}
    for path, method, op in operations:
        assert not path.startswith("/api/") and not path.endswith("/"), path
        assert op["tags"] and set(op["tags"]) <= tags, (path, method)
        assert {"401", "403"} <= set(op["responses"]), (path, method)
        takes_input = "requestBody" in op or bool(op.get("parameters"))
        assert ("422" in op["responses"]) is takes_input, (path, method)
        for status, answer in op["responses"].items():
            assert "API-Version" in answer["headers"], (path, method, status)
            if int(status) >= 400:
                assert list(answer["content"]) == [PROBLEM_JSON], (path, method, status)
        if "requestBody" in op:
            assert "413" in op["responses"], (path, method)
    assert "Retry-After" in doc["paths"]["/checks"]["post"]["responses"]["429"]["headers"]
    problem = doc["components"]["schemas"]["Foutbericht"]
    assert {"type", "title", "status", "detail", "instance", "fouten"} <= set(
        problem["required"])


def test_no_identifier_in_any_uri(client: TestClient, fryslan: NodeContext) -> None:
    """Identifiers travel only in POST bodies: a URI ends up in access logs and browser
    history. No API operation has a query parameter, a path parameter is a number, and no
    parameter of any route (pages included) is named after an identifier."""
    doc = client.get("/api/v1/openapi.json").json()
    for path, item in doc["paths"].items():
        assert not IDENTIFIER_WORDS.search(path), path
        for method, op in item.items():
            for parameter in op.get("parameters", []):
                assert parameter["in"] in ("path", "header"), (path, method, parameter)
                assert not IDENTIFIER_WORDS.search(parameter["name"]), (path, parameter)
                if parameter["in"] == "path":
                    assert parameter["schema"]["type"] == "integer", (path, parameter)
    for route in create_app(fryslan).routes:
        if isinstance(route, Route | APIRoute):
            for name in route.param_convertors:
                assert not IDENTIFIER_WORDS.search(name), (route.path, name)
            if isinstance(route, APIRoute):
                for param in route.dependant.query_params:
                    assert not IDENTIFIER_WORDS.search(param.name), (route.path, param.name)


@pytest.fixture(scope="module")
def served_document(tmp_path_factory: pytest.TempPathFactory, fryslan: NodeContext) -> Path:
    """The document as the node serves it, in a file for Spectral."""
    with TestClient(create_app(fryslan)) as client:
        response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(response.text, encoding="utf-8")
    return path


def test_spectral_finds_no_error(served_document: Path) -> None:
    findings = spectral.lint(served_document, RULESET)
    errors = [f for f in findings if f.get("severity") == 0]
    assert not errors, json.dumps(errors, indent=1)


def test_the_ruleset_catches_what_each_of_its_rules_names(served_document: Path,
                                                         tmp_path: Path) -> None:
    """The lint above is only worth something if each rule fires on its own violation:
    one broken copy of the served document, with one violation per rule."""
    doc: dict[str, Any] = json.loads(served_document.read_text(encoding="utf-8"))
    bad = copy.deepcopy(doc)
    paths = bad["paths"]
    paths["/checks"]["post"]["responses"]["200"]["headers"] = {}             # API-57
    paths["/checks"]["post"]["responses"]["429"]["headers"].pop("Retry-After")
    paths["/meldingen"]["get"]["responses"]["401"]["content"] = {
        "application/json": {"schema": {"type": "object"}}}                   # problem+json
    paths["/meldingen/"] = paths.pop("/meldingen")                            # API-48
    paths["/v1/status"] = paths.pop("/status")                                # API-20
    paths["/gebruiker"] = paths.pop("/gebruikers")                            # API-54
    paths["/casussen/nietInBehandeling"] = paths.pop("/casussen/niet-in-behandeling")
    paths["/import"]["trace"] = paths["/import"]["post"]                      # API-03
    paths["/meldingen/{melding_id}/afgehandeld"]["post"]["parameters"][0]["name"] = \
        "achternaam"                                                          # no identifiers
    bad["openapi"] = "2.0"                                                    # API-16
    bad["info"]["version"] = "1"                                              # API-56
    del bad["info"]["contact"]
    bad["servers"] = [{"url": "/api"}]                                        # API-20
    bad["components"]["schemas"]["Foutbericht"]["required"].remove("fouten")
    bad["components"]["schemas"]["MeldingUit"]["properties"]["ontvangen"]["format"] = \
        "date-time-local"
    broken = tmp_path / "openapi.json"
    broken.write_text(json.dumps(bad), encoding="utf-8")
    fired = {str(f["code"]) for f in spectral.lint(broken, RULESET) if f.get("severity") == 0}
    named = set(re.findall(r"^  ((?:API-\d+-)?core-[\w-]+):$", RULESET.read_text(), re.M))
    assert len(named) >= 12
    assert named <= fired, sorted(named - fired)


def test_problem_detail_counts_the_other_errors_in_dutch() -> None:
    """Before: two errors gave "... (en 1 andere fouten)"; one other is "fout"."""
    one, two, three = ({"veld": f"veld{i}", "melding": f"melding {i}"} for i in range(3))
    assert json.loads(problem(422, [one]).body)["detail"] == "melding 0"
    assert json.loads(problem(422, [one, two]).body)["detail"] == "melding 0 (en 1 andere fout)"
    assert json.loads(problem(422, [one, two, three]).body)["detail"] == \
        "melding 0 (en 2 andere fouten)"


def test_a_missing_plural_field_reads_as_the_domain_says_it(
        client: TestClient, fryslan: NodeContext) -> None:
    """Before: leaving `voornamen` out gave "voornamen ontbreekt", an empty one "voornamen
    ontbreken" (crypto/identity.py): one field, one message, in correct Dutch."""
    regisseur = _token(fryslan, "regisseur")
    person = {k: v for k, v in CHECK_BODY["personen"][0].items()  # type: ignore[index]
              if k != "voornamen"}
    problem = _refused(client.post("/api/v1/checks", headers=regisseur,
                                   json={**CHECK_BODY, "personen": [person]}), 422)
    assert problem["fouten"] == [{"veld": "voornamen", "persoon": 1,
                                  "melding": "voornamen ontbreken"}]
    problem = _refused(client.post("/api/v1/checks", headers=regisseur,
                                   json={"casus": TRIAGE_CASE, "doel": CHECK_BODY["doel"]}), 422)
    assert problem["fouten"] == [{"veld": "personen", "melding": "personen ontbreken"}]
