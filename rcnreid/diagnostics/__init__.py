"""Is it fast, is it right: the speed benchmark (``bench``), per-op profiles (``op_profile``) and
the GPU check that trains a tiny model on a device and on the CPU (``gpu_check``)."""
