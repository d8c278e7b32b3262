"""What a table run is made of: its rows, its options and the one exception a row may raise.

A table is a list of :class:`Row` objects; every row names a *unit* (``experiments.units``), a
cached computation for one (dataset, trial) that returns a CMC curve. :class:`Options` holds what
the command line sets (``experiments.cli``); its sizes come from the one registry of named
configurations, :data:`rcnreid.configs.registry.PROFILES`.
"""
import dataclasses
import hashlib
import json

from rcnreid.configs.registry import PROFILES

DATASETS = ("ilidsvid", "prid2011")
RANKS = (1, 5, 10, 20)
CMC_LENGTH = 20          # stored CMC curves run over ranks 1..20 (Fig. 5)


class RowNotRun(Exception):
    """A row that cannot run here, with the reason shown in the table (e.g. missing weights)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: its name as in the paper and the unit that computes it.

    ``unit`` may hold ``{option}`` fields of :class:`Options` (e.g. ``"pool/max/{pool_distance}"``)
    so that results computed under different options are cached apart.
    """
    name: str
    unit: str

    def unit_key(self, options):
        return self.unit.format(**dataclasses.asdict(options))


@dataclasses.dataclass
class Options:
    """Everything a table run needs; built from the command line by
    :func:`experiments.cli.options_from_args`."""
    data: str = "real"                 # "real" | "synthetic"
    profile: str = "paper"             # a key of rcnreid.configs.registry.PROFILES
    trials: tuple = tuple(range(10))
    jobs: int = 1
    datasets: tuple = DATASETS
    rows: tuple = ()                   # row names to compute (empty: all)
    ilidsvid: str = "data/ilidsvid.h5"
    prid: str = "data/prid2011.h5"
    results: str = "results"
    seed: int = 0
    collect_only: bool = False         # build the table from finished trials, compute nothing
    vgg16_weights: str = ""
    pool_distance: str = "euclidean"   # Table 3 re-pooled rows: "euclidean" | "similarity" (Eq. 5)
    reading: str = "default"           # rcnreid.configs.readings.READINGS
    overrides: tuple = ()              # --set SECTION.FIELD=VALUE for every trained network

    @property
    def profile_spec(self):
        """The registry's :class:`rcnreid.configs.registry.Profile` of this run."""
        return PROFILES[self.profile]

    @property
    def run_tag(self):
        """The folder name that keeps runs of other data, profiles, readings and overrides apart
        (``synthetic-quick``, ``real-paper-literal``, ``real-paper-set-1a2b3c4d``): it is part
        of every cache key and run folder, so such results never mix."""
        tag = "%s-%s" % (self.data, self.profile)
        if self.reading != "default":
            tag += "-" + self.reading
        if self.overrides:
            digest = hashlib.sha256(json.dumps(list(self.overrides)).encode()).hexdigest()
            tag += "-set-" + digest[:8]
        return tag
