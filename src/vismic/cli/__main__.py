"""``python -m vismic.cli``: the same as the ``vismic`` command."""

import sys

from . import main

sys.exit(main())
