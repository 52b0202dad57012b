"""The procesregisseur's own pages beside the check: the history of own checks, and the
help page (for every role) that says what a check does and what a strength means; and
every user's own account: changing the password (first of all after a beheerder set it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from samenloop.node import history
from samenloop.node.model import PHASE_LABELS
from samenloop.node.web import accounts, actions
from samenloop.node.web.actions import FieldError
from samenloop.node.web.pages import render
from samenloop.node.web.security import Viewer, context, page_user, posted_form

router = APIRouter(include_in_schema=False)

HISTORY_LIMIT = 500
PASSWORD_FIELDS = ("huidig", "nieuw", "herhaald")


def _zvh_names(request: Request) -> dict[str, str]:
    """Node id -> display name, from the last verified directory (ids if there is none)."""
    directory = context(request).network.cached_directory()
    return {n.node_id: n.display_name for n in directory.nodes} if directory else {}


@router.get("/geschiedenis")
def own_history(request: Request,
                viewer: Viewer = Depends(page_user("procesregisseur"))  # noqa: B008
                ) -> HTMLResponse:
    """Only the logged-in user's own checks: the audit records name their actor."""
    checks = history.own_checks(context(request).store, viewer.username, limit=HISTORY_LIMIT)
    return render(request, "geschiedenis.html", viewer, checks=checks, limit=HISTORY_LIMIT,
                  zvh_names=_zvh_names(request), PHASE_LABELS=PHASE_LABELS)


@router.get("/help")
def help_page(request: Request,
              viewer: Viewer = Depends(page_user(*accounts.ROLES))  # noqa: B008
              ) -> HTMLResponse:
    return render(request, "help.html", viewer,
                  bsn_enabled=actions.bsn_enabled(context(request)))


@router.get("/account/wachtwoord")
def password_form(request: Request, gewijzigd: str | None = None,
                  viewer: Viewer = Depends(page_user(*accounts.ROLES))  # noqa: B008
                  ) -> HTMLResponse:
    return render(request, "wachtwoord.html", viewer, errors=[],
                  changed=gewijzigd == "ja" and not viewer.user.must_change_password,
                  min_length=accounts.MIN_PASSWORD, organisation=_organisation(request, viewer))


def _organisation(request: Request, viewer: Viewer) -> str | None:
    """The provider's name for an account that signs in there (and has no password here)."""
    ctx = context(request)
    if ctx.web.oidc is None or not ctx.store.is_oidc_account(viewer.user.username):
        return None
    return ctx.web.oidc.display_name


@router.post("/account/wachtwoord")
def password_change(request: Request,
                    viewer: Viewer = Depends(page_user(*accounts.ROLES,  # noqa: B008
                                                       form=True))) -> Response:
    """The own password: the current one, the new one twice. Synchronous, so its password
    hashing runs in a worker thread."""
    ctx = context(request)
    form = posted_form(request)

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    try:
        accounts.change_password(ctx.store, ctx.web, viewer.user, text("huidig"), text("nieuw"),
                                 text("herhaald"), keep_session=viewer.session.token_hash,
                                 now=ctx.clock())
    except accounts.PasswordRefused as exc:
        return render(request, "wachtwoord.html", viewer, 422, changed=False,
                      min_length=accounts.MIN_PASSWORD, error_fields=PASSWORD_FIELDS,
                      organisation=_organisation(request, viewer),
                      errors=[FieldError(p.field, p.message) for p in exc.problems])
    return RedirectResponse("/account/wachtwoord?gewijzigd=ja", 303)
