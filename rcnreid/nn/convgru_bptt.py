"""Back-propagation through time for the fused stacked ConvGRU (Eqs. 2, 3), written by hand.

Theano differentiates a ``theano.scan`` by scanning backwards over the gradient of the step
function. For the ConvGRU that backward loop recomputes every step's gate and candidate
convolutions (only h is kept by the forward scan) and accumulates the recurrent kernels' weight
gradients one step at a time. Here the forward scan also keeps the activations z, r and c of
every step (``convgru.run_convgru(..., record=...)``), and the backward pass is:

1. one reverse ``theano.scan`` that carries dL/dh^l_{t} from step t+1 to step t and, per level
   from the top down (Eq. 3 feeds h^{l-1}_t into level l at the same step), computes only the
   gradients with respect to the step's inputs: two convolution input-gradients per level
   (through U_h and through the gate kernels [U_z, U_r | Wc_z, Wc_r]);
2. the recurrent kernels' weight gradients as one batched convolution weight-gradient over all
   T*B steps, outside the loop;
3. the gradients of everything below the recurrence (the input-to-hidden kernels, biases and the
   encoder) by Theano's ordinary differentiation from the gradients of the scan's input
   sequences.

With h = h^l_{t-1}, a = the input-to-hidden pre-activations, G = the gate kernels acting on
[h, P(h^{l-1}_t)], and the forward step z, r = sigmoid(G * [h, P(h^{l-1}_t)] + a_zr),
c = tanh(a_c + U_h * (r o h)), h_t = h + z o (c - h), the reverse step is::

    dh_t  = dL/dh_t (from the loss) + carry from step t+1 + (level l+1's input-gradient at t)
    dc'   = dh_t o z o (1 - c^2)                 (candidate pre-activation; = d a_c)
    d(rh) = U_h^T * dc'                          (a convolution input-gradient)
    dz'   = dh_t o (c - h) o z o (1 - z)         (update-gate pre-activation; = d a_z)
    dr'   = d(rh) o h o r o (1 - r)              (reset-gate pre-activation; = d a_r)
    d[h, P(h^{l-1}_t)] = G^T * [dz', dr']
    carry = dh_t o (1 - z) + d(rh) o r + d[h]
    dh^{l-1}_t += pool-gradient of d[P(h^{l-1}_t)]

Every convolution gradient is taken with ``theano.grad`` of the same :func:`rcnreid.nn.layers.conv`
the forward pass uses, so the conventions (cross-correlation, zero padding) cannot drift. The
result equals Theano's own gradient (tests/test_model_bptt.py) and does about a third less
convolution work in the backward pass; docs/SPEED.md has the measurements.
"""
from collections import OrderedDict

from rcnreid.nn.convgru import cross_input
from rcnreid.nn.layers import conv, f32, fold_time
from rcnreid.backend.theano_env import T, theano


def _input_grad(x, w, dout):
    """d(conv(x, w))/dx applied to ``dout`` (a convolution input-gradient; x's value unused).

    Only the convolution's own partial derivative: ``w`` is held constant."""
    return theano.grad(None, wrt=x, known_grads={conv(x, w): dout}, consider_constant=[w])


def _weight_grad(x, w, dout):
    """d(conv(x, w))/dw applied to ``dout``, summed over the batch of ``x``.

    Only the convolution's own partial derivative: ``x`` is held constant (here x is built from
    the hidden states, which depend on w through the recurrence; that dependence is what the
    reverse scan has already accounted for)."""
    return theano.grad(None, wrt=w, known_grads={conv(x, w): dout}, consider_constant=[x])


def _shift_in_time(h):
    """h (T, B, ...) -> h_{t-1} for t = 0..T-1, with h_{-1} = 0 (the zero initial state)."""
    return T.concatenate([T.zeros_like(h[:1]), h[:-1]], axis=0)


def _split(items, sizes):
    """``items`` cut into consecutive runs of the given sizes."""
    out, pos = [], 0
    for n in sizes:
        out.append(items[pos:pos + n])
        pos += n
    return out


def convgru_backward(record, g_hidden, cfg):
    """Gradients of the fused ConvGRU graph recorded by ``run_convgru(..., record=record)``.

    ``g_hidden``: dL/dh^l for every level, each (T, B, Ch_l, H_l, W_l) (the gradient of the loss
    with respect to the hidden sequences that ``run_convgru`` returned).
    Returns ``(known, direct)``: ``known`` maps each scan input sequence (``record["pre"]``) to
    its gradient, for ``theano.grad(None, wrt=..., known_grads=known)``; ``direct`` maps each
    recurrent kernel variable of ``record["rec"]`` to its gradient.
    """
    L = cfg.num_levels
    chs = cfg.hidden_channels
    stacked = cfg.stacked
    fuse = record["fuse_cross"]
    hws = record["hws"]
    rec = record["rec"]
    hidden, zs, rs, cs = record["hidden"], record["z"], record["r"], record["c"]
    h_prev = [_shift_in_time(h) for h in hidden]
    has_below = [stacked and l > 0 for l in range(L)]

    # sequences, level by level: dL/dh_t, h_{t-1}, z_t, r_t, c_t (+ h^{l-1}_t for Eq. 3)
    seqs = []
    for l in range(L):
        seqs += [g_hidden[l], h_prev[l], zs[l], rs[l], cs[l]]
        if has_below[l]:
            seqs.append(hidden[l - 1])
    sizes = [6 if has_below[l] else 5 for l in range(L)]
    weights = [w for items in rec for w in items]
    wsizes = [len(items) for items in rec]
    carry0 = [T.zeros_like(h[0]) for h in hidden]

    def step(*args):
        n_seq = sum(sizes)
        sq, carry, ws = args[:n_seq], args[n_seq:n_seq + L], args[n_seq + L:]
        per_level, lws = _split(sq, sizes), _split(ws, wsizes)
        from_above = [None] * L
        d_gates, d_cand, new_carry = [None] * L, [None] * L, [None] * L
        one = f32(1)
        for l in reversed(range(L)):
            g, h, z, r, c = per_level[l][:5]
            dh = g + carry[l]
            if from_above[l] is not None:
                dh = dh + from_above[l]
            dc = dh * z * (one - c * c)
            d_rh = _input_grad(r * h, lws[l][-1], dc)
            dz = dh * (c - h) * z * (one - z)
            dr = d_rh * h * r * (one - r)
            dg = T.concatenate([dz, dr], axis=1)
            dh_prev = dh * (one - z) + d_rh * r
            if has_below[l]:
                h_lower = per_level[l][5]
                below = cross_input(h_lower, hws[l], hws[l - 1])
                if fuse:
                    d_in = _input_grad(T.concatenate([h, below], axis=1), lws[l][0], dg)
                    dh_prev = dh_prev + d_in[:, :chs[l]]
                    d_below = d_in[:, chs[l]:]
                else:
                    dh_prev = dh_prev + _input_grad(h, lws[l][0], dg)
                    d_below = _input_grad(below, lws[l][1], dg)
                from_above[l - 1] = theano.grad(None, wrt=h_lower, known_grads={below: d_below})
            else:
                dh_prev = dh_prev + _input_grad(h, lws[l][0], dg)
            d_gates[l], d_cand[l], new_carry[l] = dg, dc, dh_prev
        return d_gates + d_cand + new_carry

    outs, _ = theano.scan(step, sequences=[s[::-1] for s in seqs],
                          outputs_info=[None] * (2 * L) + carry0, non_sequences=weights,
                          strict=True, name="convgru_bptt")
    d_gates = [o[::-1] for o in outs[:L]]
    d_cand = [o[::-1] for o in outs[L:2 * L]]

    known, direct = OrderedDict(), OrderedDict()
    for l in range(L):
        # the scan's input sequence was [a_z, a_r, a_c] along channels (convgru.run_convgru)
        known[record["pre"][l]] = T.concatenate([d_gates[l], d_cand[l]], axis=2)
        dg, dc = fold_time(d_gates[l]), fold_time(d_cand[l])
        hp = fold_time(h_prev[l])
        items = rec[l]
        direct[items[-1]] = _weight_grad(fold_time(rs[l]) * hp, items[-1], dc)
        if has_below[l]:
            below = cross_input(fold_time(hidden[l - 1]), hws[l], hws[l - 1])
            if fuse:
                direct[items[0]] = _weight_grad(T.concatenate([hp, below], axis=1), items[0], dg)
            else:
                direct[items[0]] = _weight_grad(hp, items[0], dg)
                direct[items[1]] = _weight_grad(below, items[1], dg)
        else:
            direct[items[0]] = _weight_grad(hp, items[0], dg)
    return known, direct


def fused_gradients(loss, params, record, cfg):
    """dL/d(every parameter in ``params``) for a graph whose recurrence is the fused ConvGRU
    recorded in ``record``: Theano's differentiation above and below the recurrence, the
    hand-written BPTT of :func:`convgru_backward` through it."""
    hidden = record["hidden"]
    names = [p.name for p in params]
    # 1) above the recurrence: dL/dh^l for every step, and the parameters that act only there
    #    (level fusion, fc head, similarity); the rest do not reach the loss but through h^l
    above = [p for p in params if not p.name.startswith(("enc", "gru"))]
    # (a level that reaches the loss only through the levels above it, e.g. level_fusion="top",
    # gets a zero gradient here)
    g = theano.grad(loss, wrt=list(hidden) + above, disconnected_inputs="ignore",
                    return_disconnected="zero")
    g_hidden, grads = g[:len(hidden)], dict(zip([p.name for p in above], g[len(hidden):]))
    # 2) through the recurrence
    known, direct = convgru_backward(record, g_hidden, cfg)
    # 3) below it, and back from the concatenated recurrent kernels to the named parameters
    below = [p for p in params if p.name.startswith(("enc", "gru"))]
    known.update(direct)
    g_below = theano.grad(None, wrt=below, known_grads=known, disconnected_inputs="ignore",
                          return_disconnected="zero")
    grads.update(zip([p.name for p in below], g_below))
    return [grads[n] for n in names]
