"""CUDA 12 and cuDNN headers from NVIDIA's wheels on PyPI, for compiling without a CUDA GPU.

:func:`fetch` runs ``pip download`` for the pinned wheels of :data:`WHEELS`, keeps only their
``include/`` folders under the cache (:func:`cache_dir`, ~6 MB) and deletes the wheels (the
cuDNN wheels are ~560 MB and ~700 MB; a fetch of everything took 40 s on a fast
line). :func:`header_sets` lists the ``(cudnn_version, include_dirs)`` sets found there.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

#: (set, pip requirement, the wheel's include folder). "cuda" serves every cuDNN set.
WHEELS = (
    ("cuda", "nvidia-cuda-runtime-cu12==12.9.79", "nvidia/cuda_runtime/include/"),
    ("cuda", "nvidia-cuda-nvcc-cu12==12.9.86", "nvidia/cuda_nvcc/include/"),   # crt/*.h
    ("cudnn9", "nvidia-cudnn-cu12==9.5.0.50", "nvidia/cudnn/include/"),
    ("cudnn8", "nvidia-cudnn-cu12==8.9.7.29", "nvidia/cudnn/include/"),
)


def cache_dir():
    """``$RCNREID_CUDA_HEADERS``, else ``~/.cache/rcnreid/cuda-headers`` (XDG_CACHE_HOME)."""
    if os.environ.get("RCNREID_CUDA_HEADERS"):
        return os.environ["RCNREID_CUDA_HEADERS"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "rcnreid", "cuda-headers")


def _set_dir(root, name, requirement):
    return os.path.join(root, name, requirement.split("==")[0])


def cudnn_header_version(include_dir):
    """cuDNN's version as cudnnGetVersion() reports it, read from cudnn_version.h (or cudnn.h)."""
    for name in ("cudnn_version.h", "cudnn.h"):
        path = os.path.join(include_dir, name)
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            v = {k: int(n) for k, n in re.findall(
                r"#define\s+CUDNN_(MAJOR|MINOR|PATCHLEVEL)\s+(\d+)", text)}
            if "MAJOR" in v:
                scale = (10000, 100) if v["MAJOR"] >= 9 else (1000, 100)
                return v["MAJOR"] * scale[0] + v.get("MINOR", 0) * scale[1] \
                    + v.get("PATCHLEVEL", 0)
    return None


def header_sets(root=None):
    """[(name, cudnn_version, [include dirs])] of the complete sets fetched under ``root``."""
    root = root or cache_dir()
    cuda = [_set_dir(root, n, r) for n, r, _ in WHEELS if n == "cuda"]
    if not all(os.path.isdir(d) for d in cuda):
        return []
    found = []
    for name, req, _ in WHEELS:
        d = _set_dir(root, name, req)
        if name != "cuda" and os.path.isdir(d):
            found.append((name, cudnn_header_version(d), [d] + cuda))
    return found


def _extract_include(wheel, prefix, dest):
    tmp = dest + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                target = os.path.join(tmp, member[len(prefix):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def fetch(root=None, log=print):
    """Download what is missing under ``root``, keep include/ only; returns :func:`header_sets`."""
    root = root or cache_dir()
    for name, req, prefix in WHEELS:
        dest = _set_dir(root, name, req)
        if os.path.isdir(dest):
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="rcnreid-wheel-", dir=root) as tmp:
            log("downloading %s (include/ is kept, the wheel deleted) ..." % req)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                            "-d", tmp, req], check=True)
            wheel, = glob.glob(os.path.join(tmp, "*.whl"))
            _extract_include(wheel, prefix, dest)
    return header_sets(root)
