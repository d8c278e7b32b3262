"""(dataset, trial) tasks in parallel processes (JOBS=N), each pinned to one GPU when several.

Jobs that share one GPU share its memory: each worker gets ``RCNREID_JOBS_PER_GPU`` (the most
workers on one device, :func:`jobs_per_gpu`), from which :mod:`rcnreid.backend.gpu_conv` sets
Theano's memory pool (``gpuarray__preallocate``) to its share of the device, unless the user set
either. On the CPU the variable changes nothing.

Workers are spawned (not forked: Theano must be imported after the pinning), take one GPU id from
a queue as they start, and receive the units by name (``"module:attribute"``), since units may be
closures that do not pickle.
"""
import concurrent.futures
import importlib
import multiprocessing
import os
import subprocess


def visible_gpus():
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` or those ``nvidia-smi -L`` lists."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return [g for g in cvd.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    except (OSError, subprocess.SubprocessError):
        return []


def resolve_units(ref):
    """A units dict, given as itself or by name (``"module:attribute"``)."""
    if isinstance(ref, str):
        mod, attr = ref.split(":")
        return getattr(importlib.import_module(mod), attr)
    return ref


def jobs_per_gpu(jobs, gpus):
    """The most of ``jobs`` worker processes that share one of ``gpus`` (ids), as the queue of
    :func:`run_in_processes` deals them out (round robin; all on one device when there are fewer
    than two)."""
    if len(gpus) < 2:
        return max(1, jobs)
    return max(1, -(-jobs // len(gpus)))


def _worker_init(gpu_queue, per_gpu=1):
    """Pin a worker process to one GPU and give it its share of the GPU's memory (before Theano
    is imported in it)."""
    gpu = gpu_queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ.setdefault("RCNREID_JOBS_PER_GPU", str(per_gpu))


def _worker(args):
    run_rows, options, rows, units_ref, dataset, trial = args
    return dataset, trial, run_rows(options, rows, resolve_units(units_ref), dataset, trial)


def run_in_processes(table_id, tasks, options, rows, units_ref, run_rows, log=print):
    """Run ``run_rows(options, rows, units, dataset, trial)`` (a module-level function:
    :func:`experiments.runner.run_trial_rows`, which travels by name) for every (dataset, trial)
    of ``tasks`` in ``options.jobs`` spawned processes; return ``{(dataset, trial): result}``."""
    mpctx = multiprocessing.get_context("spawn")
    gpus = visible_gpus()
    queue = mpctx.Manager().Queue()
    for i in range(options.jobs):
        queue.put(gpus[i % len(gpus)] if len(gpus) > 1 else None)
    log("%s: %d (dataset, trial) tasks in %d processes%s"
        % (table_id, len(tasks), options.jobs,
           (" over GPUs " + ",".join(gpus)) if len(gpus) > 1 else ""))
    status = {}
    with concurrent.futures.ProcessPoolExecutor(options.jobs, mp_context=mpctx,
                                                initializer=_worker_init,
                                                initargs=(queue, jobs_per_gpu(options.jobs,
                                                                              gpus))) as pool:
        futs = [pool.submit(_worker, (run_rows, options, rows, units_ref, d, t))
                for d, t in tasks]
        for fut in concurrent.futures.as_completed(futs):
            d, t, st = fut.result()
            status[(d, t)] = st
            log("%s: %s trial %d finished" % (table_id, d, t))
    return status
