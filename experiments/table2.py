"""Table 2: architecture variants (Section 5.4.1) on iLIDS-VID and PRID 2011.

Run: ``python experiments/table2.py --data synthetic --profile quick --trials 1`` (or ``make table2``);
one trial/row alone: ``python experiments/table2.py --trial K --row "NAME"``. See docs/EXPERIMENTS.md.
"""
import sys

from experiments.cli import main
from experiments.options import Row

ROWS = [
    Row("RCN-Ind", "rcn/rcn_ind"),
    Row("VGG 16 + FC-GRU", "vgg/fc_gru"),
    Row("Deep RCN (9 x 9, 1 x 1)", "rcn/deep_rcn_9x9_1x1"),
    Row("Deep RCN (5 x 5, 5 x 5)", "rcn/deep_rcn"),
]

if __name__ == "__main__":
    sys.exit(main("table2", ROWS))
