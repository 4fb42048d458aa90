"""`python -m service` is `agreements`."""

import sys

from service.cli import main

sys.exit(main())
