"""`python -m diewell.cli`: the command line, as the `diewell` command."""

from diewell.cli import entry

entry()
