"""``python -m torchddsp <command>`` (also what ``torchrun -m torchddsp train ...`` runs)."""

import sys

from .cli import main

sys.exit(main())
