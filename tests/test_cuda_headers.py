"""cuDNN 8/9: rcnreid/backend/cuda/rcnreid_cudnn_compat.h and the fix that adds it to Theano's cuDNN
ops.

1. The header's algorithm choice, compiled with gcc against a fake cudnn.h whose *_v7 queries
   return results we choose (no CUDA needed; always runs where gcc is).
2. Compile only, no GPU: the C++ source of GpuCorrMM, GpuDnnConv, GpuDnnConvGradI,
   GpuDnnConvGradW and the cuDNN pooling and softmax ops, generated for a CUDA context that exists only by
   name, compiled with g++ -fsyntax-only against CUDA 12 and cuDNN 9 (and 8) headers from
   NVIDIA's PyPI wheels and libgpuarray's headers: it compiles with the fix and, for the three
   cuDNN convolutions, not without it. The headers are fetched by ``make test-cuda-headers``
   (downloads ~1.3 GB once, keeps 6 MB under ~/.cache/rcnreid/cuda-headers); without them
   these tests skip with one line.
"""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from rcnreid.backend import theano_fixes
from rcnreid.backend.cuda import headers

HEADER_DIR = theano_fixes.CUDA_HEADER_DIR
FIX = "cudnn8_removed_algo_queries"

# ------------------------------------------------------------------------------------------
# 1. the header's choice against a fake cuDNN

FAKE_CUDNN_H = """
#define CUDNN_MAJOR %(major)d
typedef enum { CUDNN_STATUS_SUCCESS = 0, CUDNN_STATUS_NOT_SUPPORTED = 9,
               CUDNN_STATUS_BAD_PARAM = 3 } cudnnStatus_t;
typedef enum { CUDNN_DEFAULT_MATH = 0, CUDNN_TENSOR_OP_MATH = 1 } cudnnMathType_t;
typedef struct H *cudnnHandle_t;
typedef struct TD *cudnnTensorDescriptor_t;
typedef struct FD *cudnnFilterDescriptor_t;
typedef struct CD *cudnnConvolutionDescriptor_t;
typedef int cudnnConvolutionFwdAlgo_t, cudnnConvolutionBwdDataAlgo_t,
            cudnnConvolutionBwdFilterAlgo_t;
enum { CUDNN_CONVOLUTION_FWD_ALGO_COUNT = 8, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT = 6,
       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT = 7 };
#define PERF(kind) typedef struct { int algo; cudnnStatus_t status; float time; \\
    unsigned long memory; int determinism; cudnnMathType_t mathType; } kind;
PERF(cudnnConvolutionFwdAlgoPerf_t)
PERF(cudnnConvolutionBwdDataAlgoPerf_t)
PERF(cudnnConvolutionBwdFilterAlgoPerf_t)
/* what the fake *_v7 queries return, ordered by speed as cuDNN's are */
extern int fake_n; extern cudnnStatus_t fake_err;
extern int fake_algo[8], fake_status[8], fake_math[8]; extern unsigned long fake_mem[8];
#define V7(name, perf_t, A, B, C, D)                                                    \\
  static cudnnStatus_t name(cudnnHandle_t h, A a, B b, C c, D d, int req, int *n,        \\
                            perf_t *p) {                                                \\
    int i;                                                                              \\
    if (fake_err != CUDNN_STATUS_SUCCESS) return fake_err;                              \\
    for (i = 0; i < fake_n && i < req; ++i) {                                           \\
      p[i].algo = fake_algo[i]; p[i].status = (cudnnStatus_t)fake_status[i];            \\
      p[i].memory = fake_mem[i]; p[i].mathType = (cudnnMathType_t)fake_math[i];         \\
    }                                                                                   \\
    *n = i; return CUDNN_STATUS_SUCCESS;                                                \\
  }
V7(cudnnGetConvolutionForwardAlgorithm_v7, cudnnConvolutionFwdAlgoPerf_t,
   cudnnTensorDescriptor_t, cudnnFilterDescriptor_t, cudnnConvolutionDescriptor_t,
   cudnnTensorDescriptor_t)
V7(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnConvolutionBwdDataAlgoPerf_t,
   cudnnFilterDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
   cudnnTensorDescriptor_t)
V7(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnConvolutionBwdFilterAlgoPerf_t,
   cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
   cudnnFilterDescriptor_t)
"""

#: (results of the v7 query as (algo, status, memory, math), preference, limit) -> answer:
#: the algorithm, or "unsupported". S = success, N = not supported; D = default, T = tensor op.
RESULTS = [(5, "S", 1000, "T"), (1, "S", 500, "D"), (2, "N", 100, "D"), (0, "S", 0, "D")]
CASES = [
    (RESULTS, "NO_WORKSPACE", 10 ** 6, 0),        # the fastest needing no workspace
    (RESULTS, "PREFER_FASTEST", 0, 1),            # the fastest, limit ignored (default math)
    (RESULTS, "SPECIFY_WORKSPACE_LIMIT", 600, 1),
    (RESULTS, "SPECIFY_WORKSPACE_LIMIT", 499, 0),  # 2 fits but is not supported
    (RESULTS, "SPECIFY_WORKSPACE_LIMIT", 5000, 1),
    ([(5, "S", 10, "T")], "PREFER_FASTEST", 0, 5),  # tensor-op math when nothing else
    ([(1, "S", 500, "D")], "NO_WORKSPACE", 0, "unsupported"),
    ([(1, "S", 500, "D")], "SPECIFY_WORKSPACE_LIMIT", 100, "unsupported"),
    ([], "PREFER_FASTEST", 0, "unsupported"),
]
FAKE_DEFS = ("int fake_n; cudnnStatus_t fake_err = CUDNN_STATUS_SUCCESS;\n"
             "int fake_algo[8], fake_status[8], fake_math[8]; unsigned long fake_mem[8];\n")
CALLS = {"FWD": "cudnnGetConvolutionForwardAlgorithm",
         "BWD_DATA": "cudnnGetConvolutionBackwardDataAlgorithm",
         "BWD_FILTER": "cudnnGetConvolutionBackwardFilterAlgorithm"}


def _program():
    body = []
    for kind, call in CALLS.items():
        for i, (results, pref, limit, _) in enumerate(CASES):
            sets = ["fake_n = %d;" % len(results)]
            for j, (algo, status, mem, math) in enumerate(results):
                sets.append("fake_algo[%d] = %d; fake_status[%d] = %s; fake_mem[%d] = %dUL; "
                            "fake_math[%d] = %s;" % (
                                j, algo, j, "CUDNN_STATUS_SUCCESS" if status == "S"
                                else "CUDNN_STATUS_NOT_SUPPORTED", j, mem, j,
                                "CUDNN_DEFAULT_MATH" if math == "D" else "CUDNN_TENSOR_OP_MATH"))
            body.append("""  { int algo = -1; %s
    cudnnStatus_t s = %s(0, 0, 0, 0, 0, CUDNN_CONVOLUTION_%s_%s, %dUL, &algo);
    if (s == CUDNN_STATUS_SUCCESS) printf("%s %d %%d\\n", algo);
    else printf("%s %d %%s\\n", s == CUDNN_STATUS_NOT_SUPPORTED ? "unsupported" : "error"); }"""
                        % (" ".join(sets), call, kind, pref, limit, kind, i, kind, i))
    body.append("""  fake_err = CUDNN_STATUS_BAD_PARAM;
  { int algo = -1; printf("ERR %d\\n", (int)cudnnGetConvolutionForwardAlgorithm(0, 0, 0, 0, 0,
      CUDNN_CONVOLUTION_FWD_PREFER_FASTEST, 0, &algo)); }""")
    return textwrap.dedent("""
        #include <stdio.h>
        #include "rcnreid_cudnn_compat.h"
        """) + FAKE_DEFS + "int main(void) {\n" + "\n".join(body) + "\n  return 0;\n}\n"


def _compile_and_run(tmp_path, source, major):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    (tmp_path / "cudnn.h").write_text(FAKE_CUDNN_H % {"major": major})
    (tmp_path / "main.c").write_text(source)
    exe = tmp_path / "main"
    cc = subprocess.run(["gcc", "-Wall", "-Werror", "-Wno-unused-function", "-I", str(tmp_path),
                         "-I", HEADER_DIR, str(tmp_path / "main.c"), "-o", str(exe)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr[-3000:]
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("major", [8, 9])
def test_compat_header_keeps_the_removed_calls_contract(tmp_path, major):
    out = _compile_and_run(tmp_path, _program(), major).split("\n")
    got = {tuple(ln.split()[:2]): ln.split()[2] for ln in out if ln and not ln.startswith("ERR")}
    for kind in CALLS:
        for i, (_, pref, limit, want) in enumerate(CASES):
            assert got[(kind, str(i))] == str(want), (kind, CASES[i])
    assert "ERR 3" in out      # an error of the v7 query is passed on unchanged


def test_compat_header_adds_nothing_before_cudnn8(tmp_path):
    # cuDNN 7 still declares the calls: the header must not declare them a second time.
    src = ('#include "rcnreid_cudnn_compat.h"\n' + FAKE_DEFS +
           "#ifdef RCNREID_CUDNN_COMPAT_H\nint main(void) { return 0; }\n#endif\n")
    _compile_and_run(tmp_path, src, 7)
    (tmp_path / "twice.c").write_text(
        '#include "rcnreid_cudnn_compat.h"\n' + FAKE_DEFS +
        "typedef enum { CUDNN_CONVOLUTION_FWD_NO_WORKSPACE = 0 } cudnnConvolutionFwdPreference_t;"
        "\nint main(void) { return 0; }\n")
    cc = subprocess.run(["gcc", "-I", str(tmp_path), "-I", HEADER_DIR,
                         str(tmp_path / "twice.c"), "-o", str(tmp_path / "twice")],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr


def test_header_ships_with_the_package():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(here, "setup.py")) as f:
        assert "cuda/*.h" in f.read()
    assert os.path.exists(os.path.join(HEADER_DIR, theano_fixes.CUDNN_COMPAT_HEADER))


# ------------------------------------------------------------------------------------------
# 2. compile only against CUDA 12 / cuDNN 9 and 8 headers


def _header_sets():
    if os.environ.get("RCNREID_FETCH_CUDA_HEADERS") == "1":
        return headers.fetch()
    return headers.header_sets()


SETS = _header_sets()
WHY_NOT = None
if not SETS:
    WHY_NOT = ("no CUDA/cuDNN headers under %s: run `make test-cuda-headers` (downloads NVIDIA's "
               "wheels once, ~1.3 GB, keeps 6 MB)" % headers.cache_dir())
elif shutil.which("g++") is None:
    WHY_NOT = "g++ not found"
elif not any(os.path.exists(os.path.join(d, "gpuarray", "array.h")) for d in
             ("/usr/include", "/usr/local/include", os.path.join(sys.prefix, "include"))):
    WHY_NOT = "libgpuarray's headers (gpuarray/array.h) not found: install libgpuarray-dev"
else:
    try:
        import pygpu  # noqa: F401
    except Exception as exc:
        WHY_NOT = "pygpu does not import (%s): Theano's GPU ops cannot be built" % exc
needs_headers = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))

DNN_CONV = {"GpuDnnConv": "cudnnGetConvolutionForwardAlgorithm",
            "GpuDnnConvGradI": "cudnnGetConvolutionBackwardDataAlgorithm",
            "GpuDnnConvGradW": "cudnnGetConvolutionBackwardFilterAlgorithm"}
OTHERS = ["GpuCorrMM", "GpuCorrMM_gradWeights", "GpuCorrMM_gradInputs", "GpuDnnPool",
          "GpuDnnPoolGrad", "GpuDnnSoftmax", "GpuDnnSoftmaxGrad"]


def _sources(out_dir, cudnn_version, disable=None):
    env = dict(os.environ)
    env.pop("RCNREID_DISABLE_FIXES", None)
    env.pop("THEANO_FLAGS", None)
    if disable:
        env["RCNREID_DISABLE_FIXES"] = disable
    proc = subprocess.run([sys.executable, "-m", "rcnreid.backend.cuda.compile_check", str(out_dir),
                           "--cudnn-version", str(cudnn_version)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(out_dir)


@pytest.fixture(scope="module", params=[s[0] for s in SETS] or ["none"])
def header_set(request, tmp_path_factory):
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    name, version, dirs = next(s for s in SETS if s[0] == request.param)
    tmp = tmp_path_factory.mktemp(name)
    return {"name": name, "version": version, "dirs": dirs,
            "fixed": _sources(tmp / "fixed", version),
            "unfixed": _sources(tmp / "unfixed", version, disable=FIX)}


@needs_headers
@pytest.mark.parametrize("op", list(DNN_CONV) + OTHERS)
def test_gpu_conv_op_compiles_against_current_cuda_and_cudnn(header_set, op):
    from rcnreid.backend.cuda.compile_check import compile_source
    ok, out = compile_source(os.path.join(header_set["fixed"], op + ".cpp"), header_set["dirs"])
    assert ok, "%s does not compile against %s headers:\n%s" % (op, header_set["name"],
                                                                  out[-3000:])


@needs_headers
@pytest.mark.parametrize("op", list(DNN_CONV))
def test_cudnn_conv_does_not_compile_without_the_fix(header_set, op):
    from rcnreid.backend.cuda.compile_check import compile_source
    src = os.path.join(header_set["unfixed"], op + ".cpp")
    with open(src) as f:
        assert theano_fixes.CUDNN_COMPAT_HEADER not in f.read()
    ok, out = compile_source(src, header_set["dirs"])
    assert not ok and DNN_CONV[op] in out, out[-3000:]
