"""``rcnreid info``: what Theano configuration is in force."""
import json

NAME = "info"
HELP = ("show Python/Theano/numpy versions, the device Theano really computes on, floatX, BLAS, "
        "threads, scan implementation, compile dir and the Theano repairs in force")


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args):
    from rcnreid.theano_env import describe
    d = describe()
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
        ("compile dir", d["compiledir"]),
        ("device asked", d["requested_device"]),
        ("GPU active", d["gpu_active"]),
        ("pygpu", d["pygpu"] or "not installed"),
        ("device name", d["device_name"] or "-"),
        ("cuDNN", d["cudnn"] or "-"),
        ("CUDA usable", d["cuda_available"]),
        ("defaults added", ", ".join("%s=%s" % kv for kv in sorted(d["defaults_added"].items()))
         or "none (all set by user)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))
    print("Theano-PyMC repairs (rcnreid/theano_fixes.py):")
    for f in d["fixes"]:
        print("  %-30s %s" % (f["name"], f["status"]))
    for w in d["warnings"]:
        print("warning: " + w)
    return 0
