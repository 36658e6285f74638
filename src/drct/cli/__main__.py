"""``python -m drct.cli``: how torchrun relaunches ``drct train-run`` in each DDP process."""

import sys

from drct.cli import main

sys.exit(main())
