"""`samenloop node serve` with a fault at one named point, for crash tests: the process
SIGKILLs itself there (or, for "slow-write", takes a second before writing meldingen).

    python -m tests.support.killpoint POINT node serve --config FILE

    python -m tests.support.killpoint mid-import node import FILE --config FILE

Points: before-answer (the Lookup is computed, the answer has not left), before-write (the
answer has left, its meldingen are not written), after-write (both done), slow-write;
mid-import (an import's first block of tags is staged, nothing applied).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from samenloop.node import cli, server
from samenloop.node.store import NodeStore

POINTS = ("before-answer", "before-write", "after-write", "slow-write", "mid-import", "none")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    if point == "before-answer":
        answer_query = server.answer_query

        def answer_then_die(*args: Any, **kwargs: Any) -> Any:
            answer_query(*args, **kwargs)
            _die()

        server.answer_query = answer_then_die  # type: ignore[assignment]
        return
    if point == "none":
        return
    if point == "mid-import":
        stage = NodeStore.stage_import_tags

        def stage_then_die(self: NodeStore, *args: Any, **kwargs: Any) -> None:
            stage(self, *args, **kwargs)
            _die()

        NodeStore.stage_import_tags = stage_then_die  # type: ignore[method-assign]
        return
    write = server.MeldingWriter.write

    def faulty_write(self: server.MeldingWriter, pending: Any) -> None:
        if point == "before-write":
            _die()
        if point == "slow-write":
            time.sleep(1.0)
        write(self, pending)
        if point == "after-write":
            _die()

    server.MeldingWriter.write = faulty_write  # type: ignore[method-assign]


if __name__ == "__main__":
    point = sys.argv[1]
    if point not in POINTS:
        sys.exit(f"unknown point {point}; one of {', '.join(POINTS)}")
    install(point)
    sys.argv = ["samenloop", *sys.argv[2:]]
    cli.main()
