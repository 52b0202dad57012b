"""`python -m samenloop.node` is the `samenloop` command."""

from samenloop.node.cli import main

main()
