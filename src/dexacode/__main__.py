"""`python -m dexacode` runs the command."""

from dexacode.cli import main

main()
