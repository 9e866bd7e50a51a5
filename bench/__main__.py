"""python -m bench NAME [options]: run one benchmark (see ``python -m bench --help``)."""

import sys

from bench.cli import main

sys.exit(main())
