"""The process-wide cache of compiled Siamese RCNs and their training steps.

Compiling the training step (Eqs. 5-6 through the ConvGRU and its hand-written BPTT) costs
seconds to minutes, and one process often trains several runs of the same configuration (the
trials of a table, the tests). :func:`compiled_model` keeps the last :data:`COMPILED_CACHE_SIZE`
compiled (model, trainer) pairs and hands one back reset to exactly the state of a newly built
pair; :func:`rcnreid.engine.train.train` is its caller.
"""
from collections import OrderedDict

import numpy as np

#: Compiled (model, trainer) pairs by (model config, optimiser config), most recent last.
_COMPILED = OrderedDict()
COMPILED_CACHE_SIZE = 2


def compiled_model(cfg, seed):
    """A SiameseRCN initialised from ``seed`` and its compiled trainer (dropout RNG ``seed + 1``).

    Compiling the training step costs seconds to minutes, so the last few compiled pairs are kept
    in this process and reset (fresh parameters from ``seed``, zero RMSProp accumulators, fresh
    dropout RNG), which gives exactly the state of a newly built pair.
    """
    from rcnreid.nn.model import SiameseRCN, build_param_arrays
    key = (cfg.model, cfg.train.optim)
    if key in _COMPILED:
        model, trainer = _COMPILED.pop(key)
        model.set_params(build_param_arrays(cfg.model, seed))
        model.seed = int(seed)
        state = trainer.get_state()
        fresh = np.random.RandomState(seed + 1).get_state()
        for k in state:
            if k.startswith("rms/"):
                state[k] = np.zeros_like(state[k])
        state["dropout_rng/keys"], state["dropout_rng/pos"] = fresh[1], fresh[2]
        state["dropout_rng/has_gauss"], state["dropout_rng/cached_gaussian"] = fresh[3], fresh[4]
        state["steps"] = 0
        trainer.set_state(state)
    else:
        model = SiameseRCN(cfg.model, seed=seed)
        trainer = model.build_train(cfg.train.optim, seed=seed + 1)
    _COMPILED[key] = (model, trainer)
    while len(_COMPILED) > COMPILED_CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return model, trainer


def is_compiled(cfg):
    """Whether :func:`compiled_model` has ``cfg``'s training step compiled already."""
    return (cfg.model, cfg.train.optim) in _COMPILED
