"""`python -m n2n.cli`: the `n2n` command."""

import sys

from . import main

sys.exit(main())
