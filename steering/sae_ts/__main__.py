"""python -m steering.sae_ts fit ..."""

import sys

from steering.sae_ts.cli import main

sys.exit(main())
