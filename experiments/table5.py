"""Table 5: metric learning and the state of the art (Section 5.5); Fig. 5 plots these rows.

Deep RCN+LFDA/KISSME reuse the trained Deep RCN of each trial and its extracted features h̄.

Run: ``python experiments/table5.py --data synthetic --profile quick --trials 1`` (or ``make table5``);
one trial/row alone: ``python experiments/table5.py --trial K --row "NAME"``. See docs/EXPERIMENTS.md.
"""
import sys

from experiments.cli import main
from experiments.options import Row

ROWS = [
    Row("GEI+RSVM", "baseline/GEI+RSVM"),
    Row("HOG3D+DVR", "baseline/HOG3D+DVR"),
    Row("Color+LFDA", "baseline/Color+LFDA"),
    Row("STFV3D+LFDA", "baseline/STFV3D+LFDA"),
    Row("STFV3D+KISSME", "baseline/STFV3D+KISSME"),
    Row("Deep RCN+LFDA", "deep_metric/LFDA"),
    Row("Deep RCN+KISSME", "deep_metric/KISSME"),
]

if __name__ == "__main__":
    sys.exit(main("table5", ROWS))
