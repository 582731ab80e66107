"""`python -m jwtlab`: the same command line as the `jwtlab` script, for environments without scripts on PATH."""

import sys

from jwtlab.cli import main

sys.exit(main())
