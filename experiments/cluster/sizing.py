"""What one SLURM task asks for (GPUs, CPUs, memory, time), from the unit and the configuration.

- **GPUs**: one for a unit that trains or runs a network (feature extraction), when the
  user's Theano device is a GPU (``THEANO_FLAGS=device=cuda...`` / ``opencl...``); none with
  ``device=cpu`` or no device set (Theano's default is the CPU). ``--gpus`` overrides.
- **CPUs**: ``--cpus-per-task`` (default 4: the data pipeline and OpenBLAS beside the GPU).
- **Memory**: 4 GiB plus twice the dataset file (the reader holds the frames in memory);
  ``--mem`` overrides.
- **Time**: a fixed start-up (Theano's compilation from a cold cache: 210 s measured on an H200,
  docs/SPEED.md; evaluation) plus, for a training, its steps x the step time x 1.5. The step
  time is ``--step-seconds`` (measure yours: ``make bench BENCH_CONFIG=paper`` on a cluster GPU);
  the default is 1.2 s, the ``paper`` profile's step on one H200 (docs/SPEED.md, 1 Dec 2026), an
  upper bound for the smaller profiles. A time above ``--max-time`` (the partition's limit) is
  cut to it: the task is then stopped by its ``--signal`` before the limit, checkpoints, and is
  requeued to go on, as many times as it takes.
"""
import dataclasses
import math
import os
import re

#: Seconds per training step when --step-seconds is not given (paper profile, one H200).
DEFAULT_STEP_SECONDS = 1.2
#: Start-up and evaluation time added to every task (seconds).
BASE_SECONDS = 15 * 60
#: Margin on the training time.
TIME_MARGIN = 1.5
#: Memory every task gets before the dataset (MiB).
BASE_MEM_MB = 4096


@dataclasses.dataclass(frozen=True)
class Resources:
    gpus: int
    cpus: int
    mem_mb: int
    minutes: int

    def sbatch_args(self):
        out = ["--cpus-per-task=%d" % self.cpus, "--mem=%dM" % self.mem_mb,
               "--time=%s" % slurm_time(self.minutes)]
        if self.gpus:
            out.append("--gres=gpu:%d" % self.gpus)
        return out


def slurm_time(minutes):
    """``minutes`` as SLURM's ``D-HH:MM:SS``."""
    minutes = int(minutes)
    d, rest = divmod(minutes, 24 * 60)
    return "%d-%02d:%02d:00" % (d, rest // 60, rest % 60)


def parse_minutes(text):
    """SLURM time (``MM``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) -> minutes (rounded up)."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(text).strip())
    if not m:
        raise ValueError(text)
    d, a, b, c = (int(x) if x else None for x in m.groups())
    if d is None and b is None:                     # "MM"
        secs = a * 60
    elif d is None and c is None:                   # "MM:SS"
        secs = a * 60 + b
    elif d is None:                                 # "HH:MM:SS"
        secs = a * 3600 + b * 60 + c
    else:                                           # "D-HH[:MM[:SS]]"
        secs = d * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    return int(math.ceil(secs / 60.0))


def device_is_gpu(theano_flags=None):
    """True when the user's THEANO_FLAGS names a GPU device (cuda*, gpu*, opencl*)."""
    flags = os.environ.get("THEANO_FLAGS", "") if theano_flags is None else theano_flags
    device = ""
    for part in flags.split(","):
        k, _, v = part.partition("=")
        if k.strip() in ("device", "init_gpu_device"):
            device = v.strip()
    return device.startswith(("cuda", "gpu", "opencl"))


def size(unit, data_bytes=0, gpus=None, cpus=4, mem_mb=None, step_seconds=None,
         max_minutes=None, theano_flags=None):
    """The :class:`Resources` of one :class:`experiments.cluster.plan.PlannedUnit`."""
    if gpus is None:
        gpus = 1 if (unit.uses_network and device_is_gpu(theano_flags)) else 0
    mem = mem_mb or BASE_MEM_MB + int(math.ceil(2 * data_bytes / 2.0 ** 20))
    step = DEFAULT_STEP_SECONDS if step_seconds is None else float(step_seconds)
    secs = BASE_SECONDS + (unit.steps * step * TIME_MARGIN if unit.kind == "train" else 0)
    minutes = int(math.ceil(secs / 60.0))
    if max_minutes:
        minutes = min(minutes, int(max_minutes))
    return Resources(gpus=int(gpus if unit.uses_network else 0), cpus=int(cpus), mem_mb=mem,
                     minutes=max(minutes, 1))
