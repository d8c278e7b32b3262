"""Is it fast, is it right: the speed benchmark (``bench``), per-op profiles (``op_profile``),
the host's share of a training (``host_bench``: checkpoint cost, prefetch) and the GPU check that
trains a tiny model on a device and on the CPU (``gpu_check``)."""
