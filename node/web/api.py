"""The HTTP API under /api/v1: the same actions as the pages, for case systems and scripts.

Bearer token per account. Follows the NL API Design Rules: an `API-Version` header on every
response, errors as RFC 9457 problem details (`application/problem+json`) with the Dutch
field messages in `fouten`, the OpenAPI document at /api/v1/openapi.json without sign-in.
Routes raise the use cases' refusals; app.py maps each class to its status in one handler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from samenloop.node import cases
from samenloop.node.check import NOTE_CHARS
from samenloop.node.config import MAX_SUBJECTS, PURPOSE_CHARS
from samenloop.node.model import STRENGTH_LABELS, STRENGTHS
from samenloop.node.store import User
from samenloop.node.web import accounts, actions
from samenloop.node.web.security import api_user, body_schema, context, json_body

PREFIX = "/api/v1"  # the major version only in the URI (API-20); the full one in API_VERSION
API_VERSION = "1.0.0"  # semantic version of the API (API-56), sent as API-Version (API-57)
PROBLEM_JSON = "application/problem+json"  # RFC 9457

router = APIRouter(prefix=PREFIX)

# What each error status means for a client; every operation documents the ones it can give.
ERROR_TEXT = {
    401: "geen of ongeldig API-token",
    403: "uw rol geeft geen toegang, of de casus is niet van u",
    404: "onbekende casus of melding",
    409: "bestaat al",
    413: "het verzoek is te groot",
    422: "ongeldige invoer; per veld een Nederlandse melding",
    429: "limiet bereikt; probeer het na Retry-After seconden opnieuw",
    503: "de coördinator is niet bereikbaar; er is niets uitgevoerd",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of an operation: 401 and 403 always, and `statuses` (422 and 413
    come with a body or parameters, see `openapi_document`, which gives each error the
    problem+json schema)."""
    return {status: {"description": ERROR_TEXT[status]}
            for status in sorted({401, 403, *statuses})}


ERRORS = errors()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersoonIn(Strict):
    achternaam: str = Field(max_length=200)
    tussenvoegsel: str = Field("", max_length=50)
    voornamen: str = Field(max_length=200)
    geboortedatum: str = Field(max_length=20, description="bijv. 1985-03-12 of 12-3-1985")
    geboorteplaats: str = Field("", max_length=100)
    bsn: str | None = Field(None, max_length=20, description="alleen als BSN aanstaat")


class InformerenIn(Strict):
    geinformeerd_op: str = Field("", max_length=20, description="datum, bijv. 2026-11-30")
    uitgesteld: Literal["", "gevaar", "belemmering", "niet_bereikbaar"] = ""
    herbeoordeling_op: str = Field("", max_length=20)


class CheckIn(Strict):
    casus: str = Field(max_length=64, description="casusnummer van een eigen casus in "
                                                  "aanmelding (alleen eigen ZVH) of triage")
    doel: str = Field(max_length=PURPOSE_CHARS, description="een doel uit de lijst van de node")
    toelichting: str = Field("", max_length=NOTE_CHARS,
                             description="optioneel; zonder persoonsgegevens")
    personen: list[PersoonIn] = Field(min_length=1, max_length=MAX_SUBJECTS)
    informeren: InformerenIn | None = Field(
        None, description="vanaf de triage: of de persoon is geïnformeerd, als dat voor de "
                          "casus nog niet is vastgelegd")


class Contact(BaseModel):
    naam: str
    telefoon: str
    email: str


class Treffer(BaseModel):
    zvh: str
    sterkte: Literal["zeker", "sterk", "waarschijnlijk", "mogelijk"]
    omschrijving: str
    procesregisseur: Contact | None = Field(description="leeg bij beoordeling vooraf: de "
                                                        "procesregisseur daar neemt contact op")
    beoordeling_vooraf: bool = False


class PersoonUit(BaseModel):
    persoon: int
    samenloop: bool
    treffers: list[Treffer]


class Dekking(BaseModel):
    alleen_eigen_zvh: bool = Field(description="aanmelding: alleen het eigen ZVH is bevraagd")
    volledig: bool
    gecontroleerd: int
    totaal: int
    niet_bereikbaar: list[str]
    tekst: str


class CheckUit(BaseModel):
    check_id: str
    informeren_vastleggen: bool = Field(False, description="de casus heeft nog geen "
                                                            "informeerstatus")
    personen: list[PersoonUit]
    dekking: Dekking
    waarschuwing: str | None


def _moment(at: float) -> dt.datetime:
    """A stored Unix time as the API gives it: ISO 8601 in the node's local time with its
    UTC offset, so a client never has to guess the time zone."""
    return dt.datetime.fromtimestamp(at).astimezone()


class MeldingUit(BaseModel):
    id: int
    ontvangen: dt.datetime = Field(description="ISO 8601 met tijdzone")
    laatst: dt.datetime = Field(description="ISO 8601 met tijdzone")
    aantal: int
    casus: str
    van_zvh: str
    doel: str
    sterkte: str
    contact: Contact
    beoordelen: bool
    afgehandeld: dt.datetime | None = Field(description="ISO 8601 met tijdzone")
    actie: str | None


class AfhandelingIn(Strict):
    actie: Literal["contact_opgenomen", "al_in_contact", "geen_actie_nodig",
                   "geen_antwoord_mogelijk"]


class AanmeldingIn(Strict):
    casus: str = Field(max_length=64, description="casusnummer van de nieuwe aanmelding")


class CasusUit(BaseModel):
    casus: str
    fase: str
    procesregisseur: str


class ImportIn(Strict):
    inhoud: str = Field(description="export, CSV of JSON; het verzoek is ten hoogste "
                                    "web.max_upload_bytes groot (standaard 20 MB)")
    toepassen: bool = False
    sync: bool = False


class Probleem(BaseModel):
    regel: int
    veld: str
    reden: str


class ImportUit(BaseModel):
    regels: int
    casussen: int
    problemen: list[Probleem]
    toegepast: bool
    toegevoegd: int = 0
    bijgewerkt: int = 0
    verwijderd: int = 0


class CasusIn(Strict):
    casus: str = Field(max_length=64)


class StatusUit(BaseModel):
    coordinator_bereikbaar: bool
    directory_serial: int | None
    sleutel_epoch: int | None
    certificaat_geldig_tot: str | None
    casussen_per_fase: dict[str, int]
    verlopen_binnen_30_dagen: int


class GebruikerIn(Strict):
    gebruikersnaam: str = Field(max_length=64)
    rol: Literal["procesregisseur", "beheerder", "auditor", "privacy"]
    procesregisseur: str | None = Field(None, max_length=64)
    wachtwoord: str = Field(min_length=12, max_length=200)


class GebruikerUit(BaseModel):
    gebruikersnaam: str
    rol: str
    procesregisseur: str | None
    uitgeschakeld: bool


class MaandRegel(BaseModel):
    maand: str
    gebruiker: str
    checks: int
    boven_drempel: bool


class AuditUit(BaseModel):
    keten_intact: bool
    eerste_fout_bij: int | None
    regels: int
    drempel_per_maand: int
    checks_per_maand: list[MaandRegel]
    zonder_casusoverleg: list[str]


@router.post("/checks", response_model=CheckUit, responses=errors(404, 413, 429, 503),
             operation_id="checkUitvoeren", tags=["checks"],
             summary="samenloopcheck voor personen van een eigen casus",
             openapi_extra=body_schema(CheckIn))
def api_check(request: Request,
              user: User = Depends(api_user("procesregisseur")),  # noqa: B008
              body: CheckIn = Depends(json_body(CheckIn))) -> CheckUit:  # noqa: B008
    ctx = context(request)
    subjects = actions.parse_subjects([p.model_dump() for p in body.personen],
                                      bsn_enabled=actions.bsn_enabled(ctx))
    asked = body.informeren
    informing = actions.case_action(lambda: cases.parse_informing(
        asked.geinformeerd_op, asked.uitgesteld, asked.herbeoordeling_op,
        today=dt.date.fromtimestamp(ctx.clock()))) if asked is not None else None
    result = actions.samenloopcheck(ctx, actor=user.username,
                                    procesregisseur_id=user.procesregisseur_id,
                                    case_ref=body.casus, purpose=body.doel,
                                    note=body.toelichting, subjects=subjects,
                                    informing=informing)
    coverage = result.coverage
    return CheckUit(
        check_id=result.query_id, informeren_vastleggen=result.needs_informing,
        personen=[PersoonUit(persoon=i + 1, samenloop=bool(result.hits_for(i)), treffers=[
            Treffer(zvh=h.zvh, sterkte=h.strength,  # type: ignore[arg-type]
                    omschrijving=STRENGTH_LABELS[h.strength],
                    beoordeling_vooraf=h.assess_first,
                    procesregisseur=Contact(naam=h.procesregisseur.name,
                                            telefoon=h.procesregisseur.phone,
                                            email=h.procesregisseur.email)
                    if h.procesregisseur.name else None)
            for h in result.hits_for(i)]) for i in range(result.subjects)],
        dekking=Dekking(alleen_eigen_zvh=coverage.own_only, volledig=coverage.complete,
                        gecontroleerd=len(coverage.answered),
                        totaal=coverage.total, niet_bereikbaar=[m.zvh for m in coverage.missing],
                        tekst=coverage.dutch()),
        waarschuwing=None if coverage.complete else (
            "Niet alle Zorg- en Veiligheidshuizen zijn bereikt: de uitkomst is onvolledig. "
            "'Geen samenloop' geldt alleen voor de bereikte huizen. Herhaal de check later."))


@router.get("/meldingen", response_model=list[MeldingUit], responses=ERRORS,
            operation_id="meldingenOphalen", tags=["meldingen"],
            summary="samenloopmeldingen voor de ingelogde procesregisseur")
def api_meldingen(request: Request,
                  user: User = Depends(api_user("procesregisseur"))  # noqa: B008
                  ) -> list[MeldingUit]:
    names = {v: k for k, v in STRENGTHS.items()}
    return [MeldingUit(id=n.id, ontvangen=_moment(n.at), laatst=_moment(n.last_at),
                       aantal=n.times,
                       casus=n.case_ref, van_zvh=n.from_zvh, doel=n.purpose,
                       sterkte=names.get(n.strength, "onbekend"),
                       contact=Contact(naam=n.requester.name, telefoon=n.requester.phone,
                                       email=n.requester.email), beoordelen=n.assess,
                       afgehandeld=_moment(n.handled_at) if n.handled_at else None,
                       actie=n.handled_action)
            for n in cases.meldingen_for(context(request).store,
                                         user.procesregisseur_id or "")]


@router.post("/meldingen/{melding_id}/afgehandeld", status_code=204, responses=errors(404),
             operation_id="meldingAfhandelen", tags=["meldingen"],
             summary="melding afhandelen, met wat er is gedaan")
def api_melding_handled(request: Request, melding_id: int, body: AfhandelingIn,
                        user: User = Depends(api_user("procesregisseur"))  # noqa: B008
                        ) -> None:
    actions.handle_melding(context(request), actor=user.username,
                           procesregisseur_id=user.procesregisseur_id or "",
                           melding_id=melding_id, action=body.actie)


@router.post("/casussen", response_model=CasusUit, status_code=201, responses=errors(409),
             operation_id="aanmeldingRegistreren", tags=["casussen"],
             summary="nieuwe aanmelding registreren (de gebruiker wordt procesregisseur)")
def api_intake(request: Request, body: AanmeldingIn,
               user: User = Depends(api_user("procesregisseur"))) -> CasusUit:  # noqa: B008
    ctx = context(request)
    case = actions.case_action(lambda: cases.register_intake(
        ctx.store, body.casus, user.procesregisseur_id or "", actor=user.username,
        now=ctx.clock()))
    return CasusUit(casus=case.case_ref, fase=case.phase, procesregisseur=case.procesregisseur_id)


@router.post("/casussen/niet-in-behandeling", status_code=204, responses=errors(404),
             operation_id="aanmeldingNietInBehandeling", tags=["casussen"],
             summary="aanmelding niet in behandeling genomen: registratie en meldingen weg")
def api_not_accepted(request: Request, body: CasusIn,
                     user: User = Depends(api_user("procesregisseur", "beheerder")  # noqa: B008
                                          )) -> None:
    actions.close_case(context(request), body.casus, actor=user.username,
                       not_accepted=True,
                       acting_for=user.procesregisseur_id or ""
                       if user.role == "procesregisseur" else None)


@router.post("/import", response_model=ImportUit, responses=errors(413, 429, 503),
             operation_id="casussenImporteren", tags=["import"],
             summary="export controleren en (met toepassen) importeren",
             openapi_extra=body_schema(ImportIn))
def api_import(request: Request,
               user: User = Depends(api_user("beheerder")),  # noqa: B008
               body: ImportIn = Depends(json_body(ImportIn))) -> ImportUit:  # noqa: B008
    ctx = context(request)
    rows, cases, problems = actions.check_import(ctx, body.inhoud)
    out = ImportUit(regels=rows, casussen=cases, toegepast=False, problemen=[
        Probleem(regel=p.line, veld=p.field, reden=p.reason) for p in problems[:500]])
    if problems or not body.toepassen:
        return out
    summary = actions.apply_import(ctx, body.inhoud, sync=body.sync, actor=user.username)
    return out.model_copy(update=dict(toegepast=True, toegevoegd=summary.added,
                                      bijgewerkt=summary.updated, verwijderd=summary.removed))


@router.post("/casussen/sluiten", status_code=204, responses=errors(404),
             operation_id="casusSluiten", tags=["casussen"],
             summary="casus afsluiten (afschaling)", openapi_extra=body_schema(CasusIn))
def api_close_case(request: Request,
                   user: User = Depends(api_user("beheerder")),  # noqa: B008
                   body: CasusIn = Depends(json_body(CasusIn))) -> None:  # noqa: B008
    actions.close_case(context(request), body.casus, actor=user.username)


@router.get("/status", response_model=StatusUit, responses=ERRORS, summary="status van de node",
            operation_id="statusOphalen", tags=["beheer"])
def api_status(request: Request,
               user: User = Depends(api_user("beheerder"))) -> StatusUit:  # noqa: B008
    status = actions.node_status(context(request))
    return StatusUit(
        coordinator_bereikbaar=status.coordinator_reachable,
        directory_serial=status.directory_serial, sleutel_epoch=status.directory_epoch,
        certificaat_geldig_tot=status.certificate_not_after.date().isoformat()
        if status.certificate_not_after else None,
        casussen_per_fase=status.counts_by_phase,
        verlopen_binnen_30_dagen=len(status.expiring))


@router.get("/gebruikers", response_model=list[GebruikerUit], responses=ERRORS,
            operation_id="gebruikersOphalen", tags=["beheer"],
            summary="gebruikers van deze node")
def api_users(request: Request,
              user: User = Depends(api_user("beheerder"))) -> list[GebruikerUit]:  # noqa: B008
    return [GebruikerUit(gebruikersnaam=u.username, rol=u.role,
                         procesregisseur=u.procesregisseur_id, uitgeschakeld=u.disabled)
            for u in context(request).store.users()]


@router.post("/gebruikers", response_model=GebruikerUit, status_code=201, responses=ERRORS,
             operation_id="gebruikerToevoegen", tags=["beheer"],
             summary="gebruiker toevoegen", openapi_extra=body_schema(GebruikerIn))
def api_user_add(request: Request,
                 user: User = Depends(api_user("beheerder")),  # noqa: B008
                 body: GebruikerIn = Depends(json_body(GebruikerIn))  # noqa: B008
                 ) -> GebruikerUit:
    ctx = context(request)
    added = accounts.add_user(ctx.store, body.gebruikersnaam, body.rol, body.procesregisseur,
                              body.wachtwoord, by=user.username, now=ctx.clock())
    return GebruikerUit(gebruikersnaam=added.username, rol=added.role,
                        procesregisseur=added.procesregisseur_id, uitgeschakeld=added.disabled)


@router.get("/audit", response_model=AuditUit, responses=ERRORS,
            operation_id="auditOphalen", tags=["audit"],
            summary="auditoverzicht: checks per maand, drempel, afsluiten zonder casusoverleg")
def api_audit(request: Request,
              user: User = Depends(api_user("auditor"))) -> AuditUit:  # noqa: B008
    report = actions.audit_report(context(request))
    return AuditUit(
        keten_intact=report.broken_at is None, eerste_fout_bij=report.broken_at,
        regels=report.entries, drempel_per_maand=report.threshold,
        checks_per_maand=[MaandRegel(maand=m, gebruiker=u, checks=n,
                                     boven_drempel=n > report.threshold)
                          for m, u, n in report.per_month],
        zonder_casusoverleg=[q.case_ref for q in report.quiet_closes])


# ------------------------------------------------------------------ errors and the OpenAPI document


class Fout(BaseModel):
    """One refused field, in Dutch; never the value that was sent."""

    veld: str = Field(description="het veld (of 'regel 3, kolom geboortedatum' bij een import)")
    melding: str = Field(description="wat er mis is, in het Nederlands")
    persoon: int | None = Field(None, description="bij een check: 1 voor de hoofdpersoon, "
                                                  "2.. voor gezinsleden")


class Foutbericht(BaseModel):
    """An error as RFC 9457 problem details, with the Dutch field messages as `fouten`."""

    type: str = Field(description="soort probleem; about:blank: de HTTP-status zegt het")
    title: str = Field(description="korte omschrijving van de status, in het Nederlands")
    status: int
    detail: str = Field(description="de eerste melding, in het Nederlands")
    instance: str = Field(description="kenmerk van dit voorval (urn:uuid:...)")
    fouten: list[Fout] = Field(description="per veld een Nederlandse melding")


TAGS = [
    {"name": "checks", "description": "samenloopcheck voor de personen van een eigen casus"},
    {"name": "meldingen", "description": "samenloopmeldingen van andere huizen"},
    {"name": "casussen", "description": "aanmelding, niet in behandeling, afschaling"},
    {"name": "import", "description": "export uit het casussysteem controleren en importeren"},
    {"name": "beheer", "description": "status van de node en gebruikers"},
    {"name": "audit", "description": "auditoverzicht voor toezicht"},
]
API_VERSION_HEADER = {
    "description": "versie van de API (semver), in elk antwoord",
    "schema": {"type": "string", "example": API_VERSION},
}
RETRY_AFTER_HEADER = {
    "description": "na hoeveel seconden het verzoek opnieuw kan",
    "schema": {"type": "integer", "minimum": 1},
}


def openapi_document(generated: dict[str, Any], contact_url: str,
                     contact_email: str | None = None) -> dict[str, Any]:
    """FastAPI's document of the API routes, shaped to the NL API Design Rules: paths under
    the server `/api/v1` (major version in the URI), the full version in `info`, a contact,
    API-Version on every response and every error as problem+json."""
    doc = dict(generated)
    doc["info"] = {**generated["info"], "version": API_VERSION, "contact": {
        "name": "beheerder van deze Samenloop-node", "url": contact_url,
        **({"email": contact_email} if contact_email else {})}}
    doc["servers"] = [{"url": PREFIX, "description": "deze node"}]
    doc["tags"] = TAGS
    components = dict(generated.get("components", {}))
    schemas = {k: v for k, v in components.get("schemas", {}).items()
               if k not in ("HTTPValidationError", "ValidationError")}
    problem = Foutbericht.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Foutbericht"] = problem
    components["schemas"] = schemas
    components["headers"] = {"API-Version": API_VERSION_HEADER, "Retry-After": RETRY_AFTER_HEADER}
    doc["components"] = components
    version = {"API-Version": {"$ref": "#/components/headers/API-Version"}}
    paths: dict[str, Any] = {}
    for path, item in generated["paths"].items():
        if not path.startswith(PREFIX + "/"):
            continue
        operations = {}
        for method, operation in item.items():
            responses = dict(operation["responses"])
            if "requestBody" in operation:
                responses.setdefault("413", {"description": ERROR_TEXT[413]})
            if "requestBody" in operation or operation.get("parameters"):
                responses.setdefault("422", {"description": ERROR_TEXT[422]})
            for status, response in list(responses.items()):
                response = {k: v for k, v in response.items() if k != "content"} \
                    if int(status) >= 400 else dict(response)
                response["headers"] = dict(version)
                if int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": {
                        "$ref": "#/components/schemas/Foutbericht"}}}
                    response["description"] = ERROR_TEXT.get(int(status),
                                                             response.get("description", ""))
                if status == "429":
                    response["headers"]["Retry-After"] = {
                        "$ref": "#/components/headers/Retry-After"}
                responses[status] = response
            operations[method] = {**operation, "responses": dict(sorted(responses.items()))}
        paths[path.removeprefix(PREFIX)] = operations
    doc["paths"] = paths
    return doc
