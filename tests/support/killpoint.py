"""`samenloop node serve` with a fault at one named point, for crash tests: the process
SIGKILLs itself there (or, for "slow-write", takes a second before writing meldingen).

    python -m tests.support.killpoint POINT node serve --config FILE

Points: before-answer (the Lookup is computed, the answer has not left), before-write (the
answer has left, its meldingen are not written), after-write (both done), slow-write.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from samenloop.node import cli, server

POINTS = ("before-answer", "before-write", "after-write", "slow-write", "none")


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
