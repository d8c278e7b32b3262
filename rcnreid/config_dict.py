"""Configuration is plain data: dataclasses with the paper's values as defaults, written as dicts
(JSON in ``config.json`` and in checkpoints). :func:`from_dict` is the one way back from a dict,
for every configuration class (model, optimiser, training, VGG-16, fine-tuning).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Size:
...     hw: tuple = (160, 60)
...     channels: int = 3
>>> from_dict(Size, {"hw": [128, 64]})
Size(hw=(128, 64), channels=3)
>>> from_dict(Size, {"depth": 5}, "size")
Traceback (most recent call last):
rcnreid.errors.UserError: size config: unknown option(s) depth; known: channels, hw
"""
import dataclasses

from rcnreid.errors import UserError


def from_dict(cls, d, what=None):
    """``cls(**d)`` for the dataclass ``cls``: JSON lists become tuples; a key that is no field of
    ``cls`` is one UserError line naming ``what`` (default: the class name) and the known
    fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UserError("%s config: unknown option(s) %s; known: %s"
                        % (what or cls.__name__, ", ".join(unknown), ", ".join(sorted(names))))
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})
