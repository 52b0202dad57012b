"""Server log levels: operators see every lookup with SAMENLOOP_LOG_LEVEL=debug."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from samenloop.proto.observability import configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:], root.level = handlers, level


def test_info_by_default_and_debug_on_request(root_logger: logging.Logger,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMENLOOP_LOG_LEVEL", raising=False)
    configure_logging()
    assert root_logger.level == logging.INFO
    monkeypatch.setenv("SAMENLOOP_LOG_LEVEL", "DEBUG")
    configure_logging()
    assert root_logger.level == logging.DEBUG
