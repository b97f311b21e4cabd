"""`python -m diewell.cli`: the command line, as the `diewell` command."""

import sys

from diewell.cli import main

sys.exit(main())
