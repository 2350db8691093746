"""python -m aidnet.cli: the same as the `aidnet` command."""

from __future__ import annotations

import sys

from .main import main

sys.exit(main())
