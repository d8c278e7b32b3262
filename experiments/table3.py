"""Table 3: temporal pooling on top of the ConvGRUs (Section 5.4.2).

Average pooling is the Deep RCN itself (Table 2's last row, same cached trials); max and Fisher
vector pooling re-pool the frame outputs of that same trained model, compared by Euclidean
distance or (``--pool-distance similarity``, max pooling only) by the learned similarity of Eq. 5.

Run: ``python experiments/table3.py --data synthetic --profile quick --trials 1`` (or ``make table3``);
one trial/row alone: ``python experiments/table3.py --trial K --row "NAME"``. See docs/EXPERIMENTS.md.
"""
import sys

from experiments.runner import Row, main

ROWS = [
    Row("Max pooling", "pool/max/{pool_distance}"),
    Row("Average pooling", "rcn/deep_rcn"),
    Row("Fisher vector pooling", "pool/fisher/{pool_distance}"),
]

if __name__ == "__main__":
    sys.exit(main("table3", ROWS))
