"""The trained network of a checkpoint: the Siamese RCN of its run configuration with the
checkpoint's parameters (what evaluation, extraction, ranking and the pictures start from).
The checkpoint file itself is :mod:`rcnreid.engine.checkpoint`.
"""
from rcnreid.engine.checkpoint import load_checkpoint


def load_model(path, ckpt=None):
    """The trained :class:`rcnreid.nn.model.SiameseRCN` of checkpoint file ``path`` (or of the
    already loaded ``ckpt``), its RunConfig as ``model.run_config`` and the checkpoint's
    attributes as ``model.checkpoint_attrs``."""
    from rcnreid.nn.model import SiameseRCN
    ckpt = ckpt or load_checkpoint(path)
    cfg = ckpt.run_config()
    model = SiameseRCN(cfg.model, seed=int(ckpt.attrs.get("seed", 0)))
    model.set_params(ckpt.params)
    model.run_config = cfg
    model.checkpoint_attrs = dict(ckpt.attrs)
    return model
