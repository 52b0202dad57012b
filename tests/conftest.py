from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.network import Harness


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Harness]:
    """The three demo ZVHs and a coordinator, started, with the demo cases imported."""
    harness = Harness(tmp_path / "net", deadline_seconds=1.0)
    try:
        yield harness.start()
    finally:
        harness.close()


@pytest.fixture
def unsplit_network(tmp_path: Path) -> Iterator[Harness]:
    """As `network`, but as before the split (#13): the OPRF key held by the coordinator."""
    harness = Harness(tmp_path / "net", deadline_seconds=1.0, key_holders=())
    try:
        yield harness.start()
    finally:
        harness.close()
