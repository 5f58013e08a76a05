"""`python -m triggerd` is the `triggerd` command."""

from triggerd.cli import main

main()
