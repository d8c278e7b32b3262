"""Theano's GPU convolution ops as C++ source, generated and compiled without a CUDA device.

:func:`write_sources` builds, for a CUDA context that exists only by name (no device, no
driver), the ops Theano compiles for rcnreid's convolutions: ``GpuCorrMM`` and its two
gradients (cuBLAS through libgpuarray) and the cuDNN ops ``GpuDnnConv``, ``GpuDnnConvGradI``,
``GpuDnnConvGradW``, ``GpuDnnPool``, ``GpuDnnPoolGrad``, ``GpuDnnSoftmax`` and
``GpuDnnSoftmaxGrad``, and writes the source Theano's C linker would compile for each. It changes Theano's module state (a registered fake context,
the cuDNN version Theano believes in), so it runs in a process of its own::

    python -m rcnreid.backend.cuda.compile_check OUT_DIR --cudnn-version 90500

:func:`compile_source` compiles one such file with g++ (``-fsyntax-only``) against CUDA/cuDNN
headers (:mod:`rcnreid.backend.cuda.headers`), libgpuarray's and numpy's: it checks that the C code
compiles, not that it runs.
"""
import argparse
import os
import subprocess
import sys

#: The name of the context that exists only for code generation.
CONTEXT = "rcnreid_compile_only"


class _CompileOnlyContext:
    """Stands for a pygpu CUDA context: code generation reads only these attributes."""
    kind = b"cuda"
    devname = "compile-only (no device)"
    unique_id = "compile-only"
    cudnn_handle_param = None    # the cuDNN handle is a run-time parameter, unused here


def _graphs(cudnn_version):
    from rcnreid.backend.theano_env import theano, T  # noqa: F401  (applies rcnreid's repairs)
    import theano.gpuarray.dnn as dnn
    from theano.gpuarray import blas
    from theano.gpuarray import type as gtype
    gtype._context_reg[CONTEXT] = _CompileOnlyContext()
    dnn.version = lambda raises=True: cudnn_version
    # The context is a run-time parameter of GpuCorrMM & co.; only its C declaration matters.
    gtype.GpuContextType.filter = lambda self, data, strict=False, allow_downcast=None: data
    t4 = gtype.GpuArrayType("float32", (False,) * 4, context_name=CONTEXT)
    img, kern, top = t4("img"), t4("kern"), t4("top")
    shape2 = T.as_tensor_variable(numpy_shape((3, 3)))
    desc = dnn.GpuDnnConvDesc(border_mode="half", subsample=(1, 1), dilation=(1, 1),
                              conv_mode="conv", precision="float32")(kern.shape)
    ws, stride, pad = (T.as_tensor_variable(numpy_shape(v)) for v in ((2, 2), (2, 2), (0, 0)))
    pooled = dnn.GpuDnnPool(mode="max")(img, ws, stride, pad)
    return {
        "GpuCorrMM": ([img, kern], blas.GpuCorrMM(border_mode="half")(img, kern)),
        "GpuCorrMM_gradWeights": ([img, top], blas.GpuCorrMM_gradWeights(border_mode="half")(
            img, top, shape2)),
        "GpuCorrMM_gradInputs": ([kern, top], blas.GpuCorrMM_gradInputs(border_mode="half")(
            kern, top, shape2)),
        "GpuDnnConv": ([img, kern, top], dnn.GpuDnnConv(algo="guess_once")(img, kern, top, desc)),
        "GpuDnnConvGradW": ([img, top, kern], dnn.GpuDnnConvGradW(algo="guess_once")(
            img, top, kern, desc)),
        "GpuDnnConvGradI": ([kern, top, img], dnn.GpuDnnConvGradI(algo="guess_once")(
            kern, top, img, desc)),
        "GpuDnnPool": ([img], pooled),
        "GpuDnnPoolGrad": ([img, top], dnn.GpuDnnPoolGrad(mode="max")(
            img, pooled, top, ws, stride, pad)),
        "GpuDnnSoftmax": ([img], dnn.GpuDnnSoftmax("accurate", "channel")(img)),
        "GpuDnnSoftmaxGrad": ([img, top], dnn.GpuDnnSoftmaxGrad("accurate", "channel")(
            top, img)),
    }


def numpy_shape(values):
    import numpy
    return numpy.asarray(values, dtype="int64")


def write_sources(out_dir, cudnn_version):
    """Write ``<op>.cpp`` and ``include_dirs.txt`` (Theano's own folders) into ``out_dir``."""
    graphs = _graphs(cudnn_version)        # imports Theano through rcnreid.backend.theano_env
    from theano.graph.fg import FunctionGraph
    from theano.link.c.basic import CLinker
    from theano.link.c.cmodule import std_include_dirs
    os.makedirs(out_dir, exist_ok=True)
    dirs = []
    for name, (inputs, output) in graphs.items():
        linker = CLinker().accept(FunctionGraph(inputs, [output]))
        with open(os.path.join(out_dir, name + ".cpp"), "w") as f:
            f.write(linker.get_src_code())
        dirs += [d for d in linker.header_dirs() + std_include_dirs() if d and d not in dirs]
    with open(os.path.join(out_dir, "include_dirs.txt"), "w") as f:
        f.write("\n".join(dirs) + "\n")
    return sorted(n for n in os.listdir(out_dir) if n.endswith(".cpp"))


def compile_source(path, include_dirs, compiler="g++"):
    """(ok, compiler output) of ``compiler -fsyntax-only`` on ``path``; ``include_dirs`` come
    first (the CUDA/cuDNN headers), then the folders :func:`write_sources` recorded."""
    with open(os.path.join(os.path.dirname(path), "include_dirs.txt")) as f:
        recorded = [ln.strip() for ln in f if ln.strip()]
    cmd = [compiler, "-fsyntax-only", "-x", "c++", "-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION"]
    cmd += ["-I" + d for d in list(include_dirs) + recorded] + [path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m rcnreid.backend.cuda.compile_check")
    ap.add_argument("out_dir")
    ap.add_argument("--cudnn-version", type=int, default=90500,
                    help="the cuDNN version Theano is told it links with (default 90500)")
    args = ap.parse_args(argv)
    for name in write_sources(args.out_dir, args.cudnn_version):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
