"""Table 3: temporal pooling on top of the ConvGRUs (Section 5.4.2).

"Max pooling" is a network trained with max temporal pooling (the ``pool_max`` row of
rcnreid.configs.registry), scored with the learned similarity of Eq. 5 like "Average pooling", which
is the network trained with average pooling (the Deep RCN of Table 2 in the default reading). Fisher
vector pooling re-pools the frame outputs of the average-trained network, compared by Euclidean
distance. The extra row "Max pooling (re-pooled average net)" is not in the paper: the
average-trained network's frame outputs max-pooled after training, compared by Euclidean distance
(or, ``--pool-distance similarity``, by Eq. 5).

Run: ``python experiments/table3.py --data synthetic --profile quick --trials 1`` (or ``make table3``);
one trial/row alone: ``python experiments/table3.py --trial K --row "NAME"``. See docs/EXPERIMENTS.md.
"""
import sys

from experiments.cli import main
from experiments.options import Row

ROWS = [
    Row("Max pooling", "rcn/pool_max"),
    Row("Average pooling", "rcn/pool_average"),
    Row("Fisher vector pooling", "pool/fisher/{pool_distance}"),
    Row("Max pooling (re-pooled average net)", "pool/max/{pool_distance}"),
]

if __name__ == "__main__":
    sys.exit(main("table3", ROWS))
