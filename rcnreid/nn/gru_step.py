"""One step of the GRU (Eq. 1 / Eq. 2) for one level, whatever connects maps to kernels.

The step is written once and parameterised by the connection (the idea of Lasagne's
``CustomRecurrentLayer``): :func:`rcnreid.nn.layers.conv` for the convolutional GRU of Eq. 2
(:mod:`rcnreid.nn.convgru`; maps (B, C, H, W)), ``T.dot`` for the fully connected GRU of Eq. 1
(:mod:`rcnreid.nn.fcgru`; vectors (B, C)). Channels are on axis 1 in both. With ``a`` the input
terms ``[W_z * x + b_z, W_r * x + b_r, W_h * x + b_h]`` (3 Ch channels, computed by the caller,
for all time steps at once where it can)::

    z = sigmoid(a_z + U_z * h_{t-1} [+ Wc_z * P(h^{l-1}_t)])
    r = sigmoid(a_r + U_r * h_{t-1} [+ Wc_r * P(h^{l-1}_t)])
    c = tanh(a_h + U_h * (r o h_{t-1}))
    h_t = (1 - z) o h_{t-1} + z o c = h_{t-1} + z o (c - h_{t-1})

The bracketed cross-layer term is Eq. 3's (stacked ConvGRU, level l > 0).

A level's weights are a :class:`LevelWeights` (named, not positions in a list);
:func:`flatten` / :func:`unflatten` turn a list of them into the flat list ``theano.scan``
takes as ``non_sequences`` and back:

>>> levels = [LevelWeights(gates="U0", cand="Uh0"),
...           LevelWeights(gates="U1", cand="Uh1", cross="C1")]
>>> flat, spec = flatten(levels)
>>> flat
['U0', 'Uh0', 'U1', 'C1', 'Uh1']
>>> unflatten(flat, spec)[1].cross
'C1'
"""
from collections import namedtuple

from rcnreid.backend.theano_env import T

#: The kernels of one level. ``gates``: U_z and U_r concatenated along the output axis (for a
#: stacked ConvGRU whose cross-layer kernels have the recurrent kernels' size, also Wc_z, Wc_r
#: concatenated along the input axis: one connection of [h_{t-1}, P(h^{l-1}_t)]); ``cand``: U_h;
#: ``cross``: the cross-layer kernel (Wc_z, Wc_r) when it is a separate connection; ``w_in`` /
#: ``b_in``: an input projection computed inside the step (the FC-GRU's levels above the first,
#: whose input is the level below at the same step).
LevelWeights = namedtuple("LevelWeights", "gates cand cross w_in b_in",
                          defaults=(None, None, None))

_ORDER = ("gates", "cross", "cand", "w_in", "b_in")     # order in the flat list


def flatten(levels):
    """(flat list of the kernels present, spec) for ``theano.scan``'s ``non_sequences``."""
    flat, spec = [], []
    for w in levels:
        names = tuple(n for n in _ORDER if getattr(w, n) is not None)
        flat.extend(getattr(w, n) for n in names)
        spec.append(names)
    return flat, spec


def unflatten(flat, spec):
    """The list of :class:`LevelWeights` that :func:`flatten` made ``flat`` from."""
    out, pos = [], 0
    for names in spec:
        out.append(LevelWeights(**dict(zip(names, flat[pos:pos + len(names)]))))
        pos += len(names)
    return out


def gru_step(connect, h, a, w, ch, below=None):
    """One step of one level (module docstring): returns ``(h_t, z, r, c)``.

    ``connect(x, kernel)``: the connection (convolution or dot product); ``h``: h_{t-1};
    ``a``: the input terms (3 ``ch`` channels on axis 1: z, r, candidate); ``w``: the level's
    :class:`LevelWeights`; ``below``: Eq. 3's P(h^{l-1}_t) (stacked levels l > 0) or None.
    """
    if below is None:
        gates = connect(h, w.gates)
    elif w.cross is None:
        gates = connect(T.concatenate([h, below], axis=1), w.gates)
    else:
        gates = connect(h, w.gates) + connect(below, w.cross)
    gates = gates + a[:, :2 * ch]
    z = T.nnet.sigmoid(gates[:, :ch])
    r = T.nnet.sigmoid(gates[:, ch:])
    c = T.tanh(a[:, 2 * ch:] + connect(r * h, w.cand))
    return h + z * (c - h), z, r, c
