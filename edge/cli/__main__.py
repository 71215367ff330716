"""``python -m edge.cli``: the same as the ``dwell`` command."""

import sys

from edge.cli.main import main

sys.exit(main())
