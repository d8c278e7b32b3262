"""Table 4: the Deep RCN representation against hand-crafted ones (Section 5.4.3).

Run: ``python experiments/table4.py --data synthetic --profile quick --trials 1`` (or ``make table4``);
one trial/row alone: ``python experiments/table4.py --trial K --row "NAME"``. See docs/EXPERIMENTS.md.
"""
import sys

from experiments.cli import main
from experiments.options import Row

ROWS = [
    Row("HOG3D", "baseline/HOG3D"),
    Row("FV2D", "baseline/FV2D"),
    Row("FV3D", "baseline/FV3D"),
    Row("STFV3D", "baseline/STFV3D"),
    Row("Deep RCN", "rcn/deep_rcn"),
]

if __name__ == "__main__":
    sys.exit(main("table4", ROWS))
