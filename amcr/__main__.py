import sys

from amcr.cli import main

sys.exit(main())
