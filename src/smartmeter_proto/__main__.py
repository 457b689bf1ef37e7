"""``python -m smartmeter_proto``."""

import sys

from .cli import main

sys.exit(main())
