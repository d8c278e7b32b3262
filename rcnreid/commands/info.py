"""``rcnreid info``: what Theano configuration is in force."""
import json

NAME = "info"
HELP = ("show Python/Theano/numpy versions, the device Theano really computes on, floatX, BLAS, "
        "threads, scan implementation, CPU convolutions (oneDNN or CorrMM), compile dir and the "
        "Theano repairs in force")


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _cuda_check(d):
    """What a CUDA device would lack here, without starting one (rcnreid.backend.gpu_probe)."""
    if d["cuda_available"]:
        return "in use"
    from rcnreid.backend.gpu_probe import probe
    report = probe("cuda", start=False)
    if report["problem"]:
        return "cannot start: " + report["problem"]
    return "libraries found (%s); `make gpu-check` tries the device" % ", ".join(
        "%s %s" % kv for kv in report["facts"])


def _gpu_conv_row(g):
    """One line: the cuDNN convolution choice in force, its flags and where it came from."""
    if g["choice"] is None:
        return "-, " + g["source"]
    flags = ", ".join("%s=%s" % (k.split("__")[-1], v) for k, v in g["in_force"].items())
    text = "%s (%s; %s; %s)" % (g["choice"], flags, "deterministic" if g["deterministic"]
                                else "NOT deterministic", g["source"])
    if g["preallocate"]:
        text += ", gpuarray__preallocate=%g for %d job(s) on the GPU" % (g["preallocate"],
                                                                         g["jobs_per_gpu"])
    return text


def run(args):
    from rcnreid.backend import onednn_conv
    from rcnreid.backend.gpu_conv import summary
    from rcnreid.backend.theano_env import describe
    d = describe()
    d.update(onednn_conv.describe())
    d["cuda_check"] = _cuda_check(d)
    if args.json:
        print(json.dumps(d, sort_keys=True))
        return 0
    rows = [
        ("Python", d["python"]), ("Theano", d["theano"]), ("numpy", d["numpy"]),
        ("scipy", d["scipy"]), ("device", d["device"]), ("floatX", d["floatX"]),
        ("BLAS ldflags", "%r (%s)" % (d["blas_ldflags"], d["blas_source"])),
        ("scan outer loop", d["scan_impl"] + (" (Cython extension disabled on Python >= 3.11)"
                                               if d["scan_impl"] == "python" else "")),
        ("openmp", "%s (%d OpenMP threads, %s BLAS threads)"
         % (d["openmp"], d["openmp_threads"], d["blas_threads"] or "?")),
        ("OpenBLAS kernels", "%s%s" % (d["blas_core"] or "-", " (OPENBLAS_CORETYPE=%s set by "
                                        "rcnreid)" % d["blas_core_added"]
                                        if d["blas_core_added"] else "")),
        ("CPU convolutions", "%s (%s)" % (d["cpu_conv"], d["cpu_conv_reason"])),
        ("compile dir", d["compiledir"]),
        ("device asked", d["requested_device"]),
        ("GPU active", d["gpu_active"]),
        ("pygpu", d["pygpu"] or "not installed"),
        ("device name", d["device_name"] or "-"),
        ("cuDNN", d["cudnn"] or "-"),
        ("CUDA usable", d["cuda_available"]),
        ("CUDA check", d["cuda_check"]),
        ("cuDNN conv algos", _gpu_conv_row(d["gpu_conv"])),
        ("float arithmetic", summary(d["float_arithmetic"])),
        ("defaults added", ", ".join("%s=%s" % kv for kv in sorted(d["defaults_added"].items()))
         or "none (all set by user)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))
    print("Theano-PyMC repairs (rcnreid/backend/theano_fixes.py):")
    for f in d["fixes"]:
        print("  %-30s %s" % (f["name"], f["status"]))
    for w in d["warnings"]:
        print("warning: " + w)
    return 0
