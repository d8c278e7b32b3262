"""CPU convolutions through oneDNN instead of Theano's CorrMM (issue 18).

Theano computes a CPU convolution and both its gradients as ``CorrMM``: an im2col and one
OpenBLAS sgemm per image. On this project's 2-core AVX-512 machines that runs at 25-60 GFLOP/s;
oneDNN's JIT convolutions (Debian's ``libdnnl-dev``, the library PyTorch uses on the CPU) run the
same shapes at 160-280 GFLOP/s (docs/SPEED.md). This module puts them behind Theano's
abstract-convolution interface:

* :class:`OneDnnConv`, :class:`OneDnnConv_gradInputs`, :class:`OneDnnConv_gradWeights`: three
  Ops with the inputs of Theano's ``AbstractConv2d``, ``AbstractConv2d_gradInputs`` and
  ``AbstractConv2d_gradWeights`` (stride 1, no dilation, one group), float32, computed by the C
  file ``rcnreid/backend/onednn/rcnreid_onednn_conv.c`` through ctypes. That file is compiled once
  per Theano compile cache (``<compiledir>/rcnreid_onednn/<hash>/``) and keeps one oneDNN primitive
  per shape.
* :func:`local_conv_onednn`, a graph rewrite registered in Theano's convolution group ahead of
  CorrMM's, so every CPU convolution of every graph, inside scans too, becomes
  one of the Ops above. GPU graphs are untouched (their inputs are not CPU tensors).

Which one is used is a process setting, like the thread counts (:mod:`rcnreid.backend.threads`):
``RCNREID_CPU_CONV=auto`` (default: oneDNN when its library builds here, else CorrMM),
``onednn`` (oneDNN or a one-line error naming the fix) or ``corrmm`` (Theano's own). It is read
when a graph is compiled; ``rcnreid info`` shows the choice and the reason, and
``rcnreid bench --compare-settings corrmm,default`` measures it.
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

import numpy as np

from rcnreid.errors import UserError
from rcnreid.backend.theano_config import T, theano
from theano.graph.basic import Apply
from theano.graph.op import Op

ENV = "RCNREID_CPU_CONV"
CHOICES = ("auto", "onednn", "corrmm")
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onednn",
                      "rcnreid_onednn_conv.c")
FIX = "install Debian's libdnnl-dev (apt-get install libdnnl-dev) or set %s=corrmm" % ENV

FORWARD, GRAD_INPUTS, GRAD_WEIGHTS = 0, 1, 2

_LIB = {}          # "lib": the loaded library, or "error": why there is none


def setting():
    """``auto``, ``onednn`` or ``corrmm`` from the environment; a one-line error otherwise."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise UserError("%s=%s is not one of %s" % (ENV, value, ", ".join(CHOICES)))
    return value


def _build(target):
    """Compile the C file into ``target`` (through a temporary name, so that concurrent builders
    never load a half-written library). Returns None or the compiler's complaint."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=folder)
    os.close(fd)
    cmd = [os.environ.get("CC", "gcc"), "-O2", "-shared", "-fPIC", "-o", tmp, SOURCE, "-ldnnl"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        os.unlink(tmp)
        return "%s: %s" % (cmd[0], exc)
    if proc.returncode != 0:
        os.unlink(tmp)
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln] or \
            proc.stderr.splitlines() or ["exit %d" % proc.returncode]
        return lines[0].strip()
    os.replace(tmp, target)
    return None


def _cache_root():
    """Where built libraries live: beside Theano's own compiled modules."""
    return os.path.join(theano.config.compiledir, "rcnreid_onednn")


def library():
    """The loaded oneDNN convolution library, or None (:func:`unavailable` says why)."""
    if "lib" in _LIB or "error" in _LIB:
        return _LIB.get("lib")
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:12]
    target = os.path.join(_cache_root(), digest, "librcnreid_onednn_conv.so")
    error = None if os.path.exists(target) else _build(target)
    if error is None:
        try:
            lib = ctypes.CDLL(target)
        except OSError as exc:
            error = str(exc)
    if error is not None:
        _LIB["error"] = "oneDNN convolutions unavailable (%s)" % error
        return None
    lib.rcnreid_onednn_last_error.restype = ctypes.c_char_p
    lib.rcnreid_onednn_conv.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_long),
                                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.rcnreid_onednn_impl.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_long),
                                        ctypes.c_char_p, ctypes.c_int]
    _LIB["lib"] = lib
    return lib


def unavailable():
    """Why oneDNN is not usable here, or None when it is."""
    library()
    return _LIB.get("error")


def version():
    lib = library()
    if lib is None:
        return None
    buf = ctypes.create_string_buffer(32)
    lib.rcnreid_onednn_version(buf, 32)
    return buf.value.decode()


def in_use():
    """Whether CPU convolutions compiled now go through oneDNN (raises for a forced oneDNN that
    is not available)."""
    choice = setting()
    if choice == "corrmm":
        return False
    if library() is None:
        if choice == "onednn":
            raise UserError("%s=onednn, but %s: %s" % (ENV, _LIB["error"], FIX))
        return False
    return True


def describe():
    """For ``rcnreid info``: {'cpu_conv', 'cpu_conv_reason', 'onednn'}."""
    choice = setting()
    reason = unavailable() if choice != "corrmm" else None
    if choice == "corrmm":
        return {"cpu_conv": "CorrMM", "cpu_conv_reason": "%s=corrmm" % ENV, "onednn": version()}
    if reason:
        return {"cpu_conv": "CorrMM", "cpu_conv_reason": "%s: %s" % (reason, FIX), "onednn": None}
    return {"cpu_conv": "oneDNN %s" % version(), "cpu_conv_reason": "%s=%s" % (ENV, choice),
            "onednn": version()}


def pads(border_mode, kh, kw):
    """(top, left, bottom, right) zero padding of Theano's ``border_mode`` for a kh x kw kernel."""
    if border_mode == "half":
        return kh // 2, kw // 2, kh // 2, kw // 2
    if border_mode == "valid":
        return 0, 0, 0, 0
    if border_mode == "full":
        return kh - 1, kw - 1, kh - 1, kw - 1
    (ph, pw) = border_mode
    ph = ph if isinstance(ph, tuple) else (ph, ph)
    pw = pw if isinstance(pw, tuple) else (pw, pw)
    return ph[0], pw[0], ph[1], pw[1]


def run(kind, border_mode, a, b, hw=None, out=None):
    """One convolution on numpy arrays (what the Ops' ``perform`` calls).

    kind FORWARD: a = image (N,C,H,W), b = kernels (O,C,kh,kw) -> (N,O,Ho,Wo);
    GRAD_INPUTS: a = kernels, b = output gradient (N,O,Ho,Wo), hw = (H, W) -> (N,C,H,W);
    GRAD_WEIGHTS: a = image, b = output gradient, hw = (kh, kw) -> (O,C,kh,kw).
    ``out`` is reused when it has the right shape and is C-contiguous float32.
    """
    lib = library()
    if lib is None:
        raise RuntimeError(_LIB["error"])
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if kind == FORWARD:
        (n, c, h, w), (o, _, kh, kw) = a.shape, b.shape
        x, wt, dy = a, b, None
    elif kind == GRAD_INPUTS:
        (o, c, kh, kw), (n, _, _, _) = a.shape, b.shape
        h, w = (int(v) for v in hw)
        x, wt, dy = None, a, b
    else:
        (n, c, h, w), (_, o, _, _) = a.shape, b.shape
        kh, kw = (int(v) for v in hw)
        x, wt, dy = a, None, b
    pt, pl, pb, pr = pads(border_mode, kh, kw)
    ho, wo = h + pt + pb - kh + 1, w + pl + pr - kw + 1
    if dy is not None and dy.shape[2:] != (ho, wo):
        raise ValueError("output gradient of shape %s does not fit a %s convolution of a %dx%d "
                         "image with a %dx%d kernel" % (dy.shape, border_mode, h, w, kh, kw))
    if (wt is not None and wt.shape[1] != c) or (dy is not None and dy.shape[1] != o):
        raise ValueError("channel counts do not match: %s, %s" % (a.shape, b.shape))
    shape = {FORWARD: (n, o, ho, wo), GRAD_INPUTS: (n, c, h, w), GRAD_WEIGHTS: (o, c, kh, kw)}[kind]
    if out is None or out.shape != shape or out.dtype != np.float32 or \
            not out.flags.c_contiguous:
        out = np.empty(shape, dtype=np.float32)
    if 0 in shape:
        return out
    if 0 in a.shape or 0 in b.shape:
        out[...] = 0
        return out
    key = (ctypes.c_long * 11)(n, c, h, w, o, kh, kw, pt, pl, pb, pr)
    first, second = {FORWARD: (x, wt), GRAD_INPUTS: (dy, wt), GRAD_WEIGHTS: (x, dy)}[kind]
    if lib.rcnreid_onednn_conv(kind, key, first.ctypes.data, second.ctypes.data,
                               out.ctypes.data) != 0:
        raise RuntimeError("oneDNN convolution %s failed: %s"
                           % (shape, lib.rcnreid_onednn_last_error().decode()))
    return out


def implementation(kind, border_mode, image_shape, kernel_shape):
    """The oneDNN implementation a convolution of these shapes gets (e.g. ``jit:avx512_core``)."""
    lib = library()
    (n, c, h, w), (o, _, kh, kw) = image_shape, kernel_shape
    key = (ctypes.c_long * 11)(n, c, h, w, o, kh, kw, *pads(border_mode, kh, kw))
    buf = ctypes.create_string_buffer(64)
    if lib is None or lib.rcnreid_onednn_impl(kind, key, buf, 64) != 0:
        return None
    return buf.value.decode()


class _OneDnnConvBase(Op):
    """Stride-1, undilated, single-group float32 2-D cross-correlation on the CPU."""
    __props__ = ("border_mode",)
    kind = None

    def __init__(self, border_mode="valid"):
        if isinstance(border_mode, list):
            border_mode = tuple(border_mode)
        self.border_mode = border_mode

    def _out_broadcastable(self, a, b):
        raise NotImplementedError

    def make_node(self, a, b, hw=None):
        a = T.as_tensor_variable(a)
        b = T.as_tensor_variable(b)
        if a.ndim != 4 or b.ndim != 4 or a.dtype != "float32" or b.dtype != "float32":
            raise TypeError("%s takes two 4-d float32 tensors" % type(self).__name__)
        inputs = [a, b]
        if self.kind != FORWARD:
            inputs.append(T.as_tensor_variable(hw).astype("int64"))
        out = T.TensorType("float32", self._out_broadcastable(a, b))()
        return Apply(self, inputs, [out])

    def perform(self, node, inputs, output_storage):
        hw = inputs[2] if len(inputs) > 2 else None
        output_storage[0][0] = run(self.kind, self.border_mode, inputs[0], inputs[1], hw,
                                   out=output_storage[0][0])

    def _pads(self, kh, kw):
        bm = self.border_mode
        if bm == "half":
            return kh // 2, kw // 2, kh // 2, kw // 2
        if bm == "full":
            return kh - 1, kw - 1, kh - 1, kw - 1
        return pads(bm, 0, 0)


class OneDnnConv(_OneDnnConvBase):
    """Forward convolution: (image N,C,H,W; kernels O,C,kh,kw) -> N,O,Ho,Wo."""
    kind = FORWARD

    def _out_broadcastable(self, a, b):
        return (a.broadcastable[0], b.broadcastable[0], False, False)

    def infer_shape(self, fgraph, node, shapes):
        (n, _, h, w), (o, _, kh, kw) = shapes
        pt, pl, pb, pr = self._pads(kh, kw)
        return [(n, o, h + pt + pb - kh + 1, w + pl + pr - kw + 1)]


class OneDnnConv_gradInputs(_OneDnnConvBase):
    """Input gradient: (kernels O,C,kh,kw; output gradient N,O,Ho,Wo; (H, W)) -> N,C,H,W."""
    kind = GRAD_INPUTS

    def _out_broadcastable(self, a, b):
        return (b.broadcastable[0], a.broadcastable[1], False, False)

    def infer_shape(self, fgraph, node, shapes):
        (_, c, _, _), (n, _, _, _) = shapes[0], shapes[1]
        hw = node.inputs[2]
        return [(n, c, hw[0], hw[1])]


class OneDnnConv_gradWeights(_OneDnnConvBase):
    """Kernel gradient: (image N,C,H,W; output gradient N,O,Ho,Wo; (kh, kw)) -> O,C,kh,kw."""
    kind = GRAD_WEIGHTS

    def _out_broadcastable(self, a, b):
        return (b.broadcastable[1], a.broadcastable[1], False, False)

    def infer_shape(self, fgraph, node, shapes):
        (_, c, _, _), (_, o, _, _) = shapes[0], shapes[1]
        hw = node.inputs[2]
        return [(o, c, hw[0], hw[1])]


def _convertible(op, inputs):
    from theano.tensor.type import TensorType
    if not all(isinstance(v.type, TensorType) for v in inputs[:2]):
        return False                      # a GPU graph: not ours
    if any(v.dtype != "float32" or v.ndim != 4 for v in inputs[:2]):
        return False
    if tuple(op.subsample) != (1, 1) or tuple(op.filter_dilation) != (1, 1):
        return False
    if getattr(op, "num_groups", 1) != 1 or getattr(op, "unshared", False):
        return False
    bm = op.border_mode
    return bm in ("half", "valid", "full") or (
        isinstance(bm, tuple) and len(bm) == 2 and all(
            isinstance(p, int) or (isinstance(p, tuple) and len(p) == 2) for p in bm))


def _flip(kern):
    return kern[:, :, ::-1, ::-1]


def _make_rewrite():
    from theano.graph.opt import local_optimizer
    from theano.tensor.nnet.abstract_conv import (AbstractConv2d, AbstractConv2d_gradInputs,
                                                  AbstractConv2d_gradWeights)

    @local_optimizer([AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights])
    def local_conv_onednn(fgraph, node):
        """AbstractConv2d* on CPU float32 tensors -> the oneDNN Ops (ahead of CorrMM)."""
        op = node.op
        if not isinstance(op, (AbstractConv2d, AbstractConv2d_gradInputs,
                               AbstractConv2d_gradWeights)):
            return None
        if not _convertible(op, node.inputs) or not in_use():
            return None
        bm = op.border_mode
        if isinstance(op, AbstractConv2d):
            img, kern = node.inputs
            out = OneDnnConv(bm)(img, _flip(kern) if op.filter_flip else kern)
        elif isinstance(op, AbstractConv2d_gradInputs):
            kern, topgrad, shape = node.inputs
            out = OneDnnConv_gradInputs(bm)(_flip(kern) if op.filter_flip else kern, topgrad,
                                            shape[-2:])
        else:
            img, topgrad, shape = node.inputs
            out = OneDnnConv_gradWeights(bm)(img, topgrad, shape[-2:])
            if op.filter_flip:
                out = _flip(out)
        want = node.outputs[0]
        if out.type != want.type:           # broadcastable pattern of the abstract op
            out = T.patternbroadcast(out, want.broadcastable)
        return [out]

    return local_conv_onednn


def register():
    """Put :func:`local_conv_onednn` into Theano's convolution rewrites, ahead of CorrMM's (once;
    called by the backend's start-up, :mod:`rcnreid.backend.theano_env`)."""
    from theano.tensor.nnet import opt as nnet_opt
    if "local_conv_onednn" in nnet_opt.conv_groupopt.__db__:
        return
    # LocalGroupDB orders by the position keyword (Theano's own registrations pass their 30/40
    # as tags, so they sit at 0, 1, 2, ... in the order registered): -1 tries ours first.
    nnet_opt.conv_groupopt.register("local_conv_onednn", _make_rewrite(), "fast_compile",
                                    "fast_run", "conv_onednn", position=-1)
