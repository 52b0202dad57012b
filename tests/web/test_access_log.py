"""The web app's access log names method and path, never a query string (#14: the OpenID
provider's one-time `code` and `state` arrive as query parameters on the callback)."""

from __future__ import annotations

import logging

import httpx
import pytest

from samenloop.node.config import WebConfig
from samenloop.node.demo import free_port
from samenloop.node.web.app import WebServer
from tests.support.network import Harness
from tests.web.conftest import FRYSLAN, web_context


def test_the_access_log_drops_query_strings(net: Harness,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    server = WebServer(web_context(net, FRYSLAN, WebConfig(listen=f"127.0.0.1:{free_port()}")))
    server.start()
    try:
        httpx.get(f"{server.url}/inloggen?code=EenmaligeCode123&state=Toestand456")
    finally:
        server.stop()
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("GET /inloggen " in line for line in access), access
    assert not any("EenmaligeCode123" in line or "Toestand456" in line for line in access)
