"""The procesregisseur's own pages beside the check: the history of own checks, and the
help page (for every role) that says what a check does and what a strength means."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from samenloop.node import history
from samenloop.node.model import PHASE_LABELS
from samenloop.node.web import accounts, actions
from samenloop.node.web.pages import render
from samenloop.node.web.security import Viewer, context, page_user

router = APIRouter(include_in_schema=False)

HISTORY_LIMIT = 500


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
