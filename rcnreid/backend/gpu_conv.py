"""The cuDNN convolution algorithm choice on a CUDA device, and the float-arithmetic settings that
every report names (issue 28, items 1 and 2).

Theano-PyMC 1.1.2 picks each cuDNN convolution's algorithm from three flags,
``dnn__conv__algo_fwd``, ``dnn__conv__algo_bwd_data`` and ``dnn__conv__algo_bwd_filter``. Its
defaults (``small``, ``none``, ``none``) are cuDNN's IMPLICIT_PRECOMP_GEMM forward and ALGO_0 for
both gradients, which add with atomics: two runs of one seed need not give the same losses.
:data:`CHOICES` names the settings rcnreid knows, as plain data; :data:`CUDA_DEFAULT` is the one
applied on ``device=cuda*`` by :mod:`rcnreid.backend.theano_config`, only for the flags the user
did not set in ``THEANO_FLAGS`` or ``.theanorc`` (the user's ``dnn__conv__*`` win, flag by flag).
``RCNREID_GPU_CONV=<name>`` picks another choice.

**The rule** (issue 28): the default is the fastest deterministic choice, unless determinism costs
more than :data:`DETERMINISM_BUDGET` of the training step; then the fastest choice is the default
and the deterministic one a documented setting. The rule needs a measurement on the device
(``scripts/device/issue28.sh``); until one is recorded in docs/SPEED.md the default is the
deterministic choice and :data:`CUDA_DEFAULT_MEASURED` is False (``rcnreid info`` says
"provisional").

The ``time_*`` choices let cuDNN time its algorithms (``cudnnFind*AlgorithmEx``) in the largest
free block of device memory; they are given ``gpuarray__preallocate`` (Theano's memory pool) with
them: :data:`GPU_MEMORY_SHARE` of the device divided by the jobs that share it
(``RCNREID_JOBS_PER_GPU``, set by ``experiments/pool.py`` for ``JOBS=N``). The same share is set
whenever several jobs share one device, whatever the algorithm choice.

>>> sorted(CHOICES) == sorted(["theano-default", "deterministic", "deterministic-timed",
...                            "time_once", "guess_once"])
True
>>> resolve("fastest")
'time_once'
>>> plan("cuda", {}, {})["flags"]["dnn__conv__algo_bwd_filter"]
'deterministic'
>>> plan("cuda", {"dnn__conv__algo_bwd_filter": "none"}, {})["flags"].get("dnn__conv__algo_bwd_filter")
>>> plan("cpu", {}, {})["applied"]
False
>>> plan("cuda", {}, {"RCNREID_GPU_CONV": "time_once", "RCNREID_JOBS_PER_GPU": "2"})["preallocate"]
0.45
"""
import os
import sys
from collections import OrderedDict

from rcnreid.errors import UserError

#: The three Theano flags of the cuDNN convolution algorithms (forward, input gradient, weight
#: gradient) and Theano-PyMC 1.1.2's own default of each.
FLAG_KEYS = ("dnn__conv__algo_fwd", "dnn__conv__algo_bwd_data", "dnn__conv__algo_bwd_filter")
THEANO_DEFAULTS = {"dnn__conv__algo_fwd": "small", "dnn__conv__algo_bwd_data": "none",
                   "dnn__conv__algo_bwd_filter": "none"}


def _flags(fwd, bwd_data, bwd_filter):
    return OrderedDict(zip(FLAG_KEYS, (fwd, bwd_data, bwd_filter)))


#: name -> {flags, deterministic, what}. ``deterministic``: True when cuDNN documents every
#: algorithm the flags can select as deterministic (its forward algorithms, and ALGO_1 for both
#: gradients, which Theano calls ``deterministic``); False when one of them may be ALGO_0 (atomic
#: adds), which cuDNN documents as non-deterministic. ``make gpu-check`` measures it on the device.
CHOICES = OrderedDict([
    ("theano-default", {
        "flags": _flags("small", "none", "none"),
        "deterministic": False,
        "what": "Theano-PyMC 1.1.2's defaults: IMPLICIT_PRECOMP_GEMM forward, ALGO_0 for both "
                "gradients (atomic adds, not deterministic)"}),
    ("deterministic", {
        "flags": _flags("small", "deterministic", "deterministic"),
        "deterministic": True,
        "what": "IMPLICIT_PRECOMP_GEMM forward, ALGO_1 for both gradients (deterministic)"}),
    ("deterministic-timed", {
        "flags": _flags("time_once", "deterministic", "deterministic"),
        "deterministic": True,
        "what": "forward algorithm timed by cuDNN once per shape (cuDNN's forward algorithms "
                "are deterministic), ALGO_1 for both gradients"}),
    ("time_once", {
        "flags": _flags("time_once", "time_once", "time_once"),
        "deterministic": False,
        "what": "every algorithm timed by cuDNN once per shape (cudnnFind*AlgorithmEx); may "
                "pick ALGO_0 (not deterministic)"}),
    ("guess_once", {
        "flags": _flags("guess_once", "guess_once", "guess_once"),
        "deterministic": False,
        "what": "cuDNN's heuristics once per shape (through rcnreid_cudnn_compat.h on cuDNN "
                ">= 8); may pick ALGO_0 (not deterministic)"}),
])

#: Other names accepted by RCNREID_GPU_CONV.
ALIASES = {"fastest": "time_once", "default": "theano-default"}

#: The choice applied on device=cuda* when neither the user's flags nor RCNREID_GPU_CONV say
#: otherwise. Provisional: the deterministic choice, until scripts/device/issue28.sh has measured
#: the candidates on a device and the rule above has been applied to its numbers.
CUDA_DEFAULT = "deterministic"
CUDA_DEFAULT_MEASURED = False

#: Determinism is the default unless it costs more than this fraction of the training step.
DETERMINISM_BUDGET = 0.20

#: Fraction of the device's memory that Theano's pool takes (gpuarray__preallocate), shared
#: equally by the jobs on one device. RCNREID_GPU_MEMORY changes it.
GPU_MEMORY_SHARE = 0.9

ENV_CHOICE, ENV_JOBS, ENV_MEMORY = "RCNREID_GPU_CONV", "RCNREID_JOBS_PER_GPU", "RCNREID_GPU_MEMORY"


def resolve(name):
    """The :data:`CHOICES` key of ``name`` (a key or an alias); UserError naming the known ones."""
    key = ALIASES.get(name.strip(), name.strip())
    if key not in CHOICES:
        raise UserError("%s=%s: unknown cuDNN convolution choice; use one of %s (or %s)"
                        % (ENV_CHOICE, name, ", ".join(CHOICES), ", ".join(sorted(ALIASES))))
    return key


def jobs_per_gpu(env):
    """Processes sharing this process's device (``RCNREID_JOBS_PER_GPU``, default 1)."""
    raw = env.get(ENV_JOBS, "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise UserError("%s=%s: give the number of processes sharing one GPU (an integer >= 1)"
                        % (ENV_JOBS, raw))
    return n


def memory_share(env):
    """The fraction of device memory for all jobs on it together (``RCNREID_GPU_MEMORY``)."""
    raw = env.get(ENV_MEMORY, "").strip()
    if not raw:
        return GPU_MEMORY_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0.0 < share < 1.0:
        raise UserError("%s=%s: give the fraction of GPU memory for rcnreid's jobs, between 0 "
                        "and 1 (e.g. 0.9)" % (ENV_MEMORY, raw))
    return share


def is_cuda(device):
    return bool(device) and (device.startswith("cuda") or device.startswith("gpu"))


def plan(device, user_flags, env):
    """What :mod:`rcnreid.backend.theano_config` adds for ``device`` given the user's Theano
    flags (``{key: value}``) and the environment ``env``: a dict with

    - ``applied``: False off CUDA (nothing is added);
    - ``choice``: the :data:`CHOICES` key asked for, ``source``: where the choice came from
      (``RCNREID_GPU_CONV``, ``rcnreid default (provisional, unmeasured)``, or
      ``rcnreid default (measured)``);
    - ``flags``: the ``dnn__conv__*`` flags to add (those the user did not set);
    - ``user``: the ``dnn__conv__*`` flags the user set (they win);
    - ``in_force``: the three flags as Theano will see them; ``deterministic``: whether those
      select only deterministic algorithms (None when a user value is not one rcnreid knows);
    - ``preallocate``: the ``gpuarray__preallocate`` to add (None: none added), ``jobs_per_gpu``.
    """
    out = {"applied": False, "choice": None, "source": None, "flags": OrderedDict(), "user": {},
           "in_force": None, "deterministic": None, "preallocate": None, "jobs_per_gpu": 1}
    asked = env.get(ENV_CHOICE, "").strip()
    if asked:
        resolve(asked)                  # an unknown name is an error on any device
    if not is_cuda(device):
        return out
    if asked:
        choice, source = resolve(asked), ENV_CHOICE
    else:
        choice = CUDA_DEFAULT
        source = "rcnreid default (%s)" % ("measured" if CUDA_DEFAULT_MEASURED
                                           else "provisional, unmeasured")
    user = {k: user_flags[k] for k in FLAG_KEYS if k in user_flags}
    flags = OrderedDict((k, v) for k, v in CHOICES[choice]["flags"].items() if k not in user)
    in_force = OrderedDict((k, user.get(k, CHOICES[choice]["flags"][k])) for k in FLAG_KEYS)
    jobs, share = jobs_per_gpu(env), memory_share(env)
    timed = any(v.startswith("time_") for v in in_force.values())
    prealloc = None
    if "gpuarray__preallocate" not in user_flags and (timed or jobs > 1):
        prealloc = round(share / jobs, 4)
    out.update(applied=True, choice=choice, source=source, flags=flags, user=user,
               in_force=in_force, deterministic=flags_deterministic(in_force),
               preallocate=prealloc, jobs_per_gpu=jobs)
    if user:
        out["source"] += "; the user's THEANO_FLAGS/.theanorc set %s" % ", ".join(sorted(user))
    return out


#: Per flag, the values that select only deterministic cuDNN algorithms, and those that may not.
_DETERMINISTIC_VALUES = {
    "dnn__conv__algo_fwd": None,     # every forward value: cuDNN's forward algorithms
    "dnn__conv__algo_bwd_data": {"deterministic"},
    "dnn__conv__algo_bwd_filter": {"deterministic"},
}


def flags_deterministic(in_force):
    """True when the three flags select only deterministic algorithms (by cuDNN's
    documentation: every forward algorithm, ALGO_1 for the gradients), else False."""
    for key, value in in_force.items():
        allowed = _DETERMINISTIC_VALUES[key]
        if allowed is not None and value not in allowed:
            return False
    return True


def name_of(in_force):
    """The :data:`CHOICES` name whose flags are ``in_force``, or ``custom``."""
    for name, c in CHOICES.items():
        if dict(c["flags"]) == dict(in_force):
            return name
    return "custom"


def _requested_device(flags):
    for key in ("device", "init_gpu_device"):
        value = flags.get(key, "")
        if value:
            return value
    return "cpu"


def tf32_state(device, env):
    """How float32 convolutions and GEMMs round on ``device``: ``not applicable (...)`` off
    CUDA; ``off (NVIDIA_TF32_OVERRIDE=0)``; else ``allowed (cuDNN's default math; TF32 on
    Ampere and newer)``."""
    if not is_cuda(device):
        return "not applicable (%s)" % (device or "cpu")
    if env.get("NVIDIA_TF32_OVERRIDE", "").strip() == "0":
        return "off (NVIDIA_TF32_OVERRIDE=0: strict float32)"
    return "allowed (cuDNN's default math: TF32 tensor cores on Ampere and newer GPUs; " \
           "NVIDIA_TF32_OVERRIDE=0 turns it off)"


def float_arithmetic(user_flags=None, env=None):
    """The settings that change float arithmetic, as a plain dict that every report records
    (run.json, evaluation JSON, table reports, bench JSON): the device, the cuDNN convolution
    choice and its flags, whether they are deterministic, TF32. Computed from the environment
    (``THEANO_FLAGS``, ``.theanorc``, ``RCNREID_GPU_CONV``, ``NVIDIA_TF32_OVERRIDE``) by the same
    rules :mod:`rcnreid.backend.theano_config` applies, without importing Theano.

    >>> d = float_arithmetic({"device": "cpu"}, {})
    >>> d["device"], d["cudnn_conv"], d["tf32"]
    ('cpu', 'not applicable (cpu)', 'not applicable (cpu)')
    >>> float_arithmetic({"device": "cuda0"}, {"NVIDIA_TF32_OVERRIDE": "0"})["cudnn_conv"]
    'deterministic'
    """
    if env is None:
        env = os.environ
    if user_flags is None:
        user_flags = current_user_flags()
    device = _requested_device(user_flags)
    out = {"device": device, "tf32": tf32_state(device, env),
           "NVIDIA_TF32_OVERRIDE": env.get("NVIDIA_TF32_OVERRIDE")}
    if not is_cuda(device):
        out.update(cudnn_conv="not applicable (%s)" % device, cudnn_conv_flags=None,
                   deterministic_conv=None, cudnn_conv_source=None)
        return out
    p = plan(device, user_flags, env)
    dnn = user_flags.get("dnn__enabled", "auto")
    out.update(cudnn_conv=name_of(p["in_force"]), cudnn_conv_flags=dict(p["in_force"]),
               deterministic_conv=p["deterministic"], cudnn_conv_source=p["source"],
               dnn_enabled=dnn, gpuarray_preallocate=user_flags.get(
                   "gpuarray__preallocate", p["preallocate"]))
    return out


def current_user_flags():
    """The user's Theano flags in force in this process: those read when Theano was configured
    (:mod:`rcnreid.backend.theano_config`), else those the environment sets now."""
    mod = sys.modules.get("rcnreid.backend.theano_config")
    if mod is not None and mod.STATE.get("user_flags") is not None:
        return dict(mod.STATE["user_flags"])
    from rcnreid.backend.theano_flags import user_theano_flags
    return user_theano_flags()


def summary(fa):
    """One line naming the float-arithmetic settings of :func:`float_arithmetic`'s dict."""
    if not is_cuda(fa.get("device")):
        return "device %s" % fa.get("device")
    return "device %s, cuDNN convolutions %s (%s), TF32 %s" % (
        fa["device"], fa["cudnn_conv"],
        "deterministic" if fa["deterministic_conv"] else "not deterministic",
        fa["tf32"].split(" (")[0])


def decide(step_s, budget=DETERMINISM_BUDGET):
    """Apply the rule to measured training-step seconds ``{choice name: s}`` (one device, one
    run; choices that failed left out): the default is the fastest deterministic choice unless
    it is more than ``budget`` slower than the fastest choice; then the fastest is the default
    and the deterministic one the documented setting. Returns ``{"default", "fastest",
    "fastest_deterministic", "determinism_cost", "rule"}`` (``determinism_cost``: the fastest
    deterministic step over the fastest step, minus 1; None without a deterministic choice).

    >>> decide({"deterministic": 1.1, "time_once": 1.0, "theano-default": 1.2})["default"]
    'deterministic'
    >>> decide({"deterministic": 1.3, "time_once": 1.0})["default"]
    'time_once'
    """
    known = {k: v for k, v in step_s.items() if k in CHOICES and v}
    if not known:
        return {"default": None, "fastest": None, "fastest_deterministic": None,
                "determinism_cost": None, "rule": "no choice measured"}
    fastest = min(known, key=known.get)
    det = [k for k in known if CHOICES[k]["deterministic"]]
    best_det = min(det, key=known.get) if det else None
    cost = known[best_det] / known[fastest] - 1.0 if best_det else None
    if best_det is not None and cost <= budget:
        default, why = best_det, "determinism costs %.0f %% <= %.0f %%" % (100 * cost,
                                                                          100 * budget)
    elif best_det is not None:
        default, why = fastest, "determinism costs %.0f %% > %.0f %%: %s stays a setting" % (
            100 * cost, 100 * budget, best_det)
    else:
        default, why = fastest, "no deterministic choice was measured"
    return {"default": default, "fastest": fastest, "fastest_deterministic": best_det,
            "determinism_cost": cost, "rule": why}
