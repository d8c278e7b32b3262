"""``python -m rcnreid.bench ...``: the old spelling of ``rcnreid bench ...`` (the benchmark
itself is :mod:`rcnreid.diagnostics.bench`). A spelling of the command line, like
:mod:`rcnreid.__main__`: it sits on top and nothing imports it."""
import sys

from rcnreid.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench"] + sys.argv[1:]))
