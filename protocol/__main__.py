"""`python -m jarvis.protocol` is the `jarvis` command."""

import sys

from .cli import main

sys.exit(main())
