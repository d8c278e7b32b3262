#!/usr/bin/env python
"""The old spelling of ``rcnreid convert-vgg-weights`` (kept because earlier documentation gives
it)::

    python scripts/convert_vgg_weights.py IN OUT.npz [--layout rcnreid|tf]

The conversion lives in :mod:`rcnreid.vgg.weights_convert`.
"""
import sys

from rcnreid.vgg.weights_convert import convert, read_lasagne_pickle  # noqa: F401


def main(argv=None):
    from rcnreid.cli import main as rcnreid_main
    return rcnreid_main(["convert-vgg-weights"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
