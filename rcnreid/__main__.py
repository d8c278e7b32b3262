import sys

from rcnreid.cli import main

sys.exit(main())
