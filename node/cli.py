"""The `samenloop` command: one entry point for node operators, the network operator and demos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="samenloop",
    help="Samenloop: federated hit/no-hit checks between Zorg- en Veiligheidshuizen.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("eval-matching")
def eval_matching(
    registry: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="registry JSONL")],
    queries: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="queries JSONL")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="one line of hits per query")],
) -> None:
    """Run the real match path (parse, match keys, VOPRF, tags) offline on a test set."""
    from samenloop.node.matching import run_eval_matching

    report = run_eval_matching(registry, queries, out)
    typer.echo(report.summary())


def main() -> None:
    app()
