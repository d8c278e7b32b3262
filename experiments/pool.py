"""(dataset, trial) tasks in parallel processes (JOBS=N), each pinned to one GPU when several.

Jobs that share one GPU share its memory: each worker gets ``RCNREID_JOBS_PER_GPU`` (the most
workers on one device, :func:`jobs_per_gpu`), from which :mod:`rcnreid.backend.gpu_conv` sets
Theano's memory pool (``gpuarray__preallocate``) to its share of the device, unless the user set
either. On the CPU the variable changes nothing.

Workers are spawned (not forked: Theano must be imported after the pinning), take one GPU id from
a queue as they start, and receive the units by name (``"module:attribute"``), since units may be
closures that do not pickle.

A stop signal (SIGTERM from SLURM, SIGINT, SIGUSR1) received by the parent is forwarded to the
workers, whose trainings checkpoint and stop; no new task starts, and the parent raises the
workers' ``TrainingInterrupted`` (exit status 75) once they have all stopped.
"""
import concurrent.futures
import importlib
import multiprocessing
import os
import subprocess

from experiments.interrupts import forward_to, is_interrupted


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


_GUARD = []     # the worker's stop-signal handler, installed for the worker's whole life


def _pin_gpu(gpu_queue, per_gpu=1):
    """Pin this worker process to the next GPU of ``gpu_queue`` and give it its share of the
    GPU's memory (``per_gpu`` jobs on one device), before Theano is imported in it."""
    gpu = gpu_queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ.setdefault("RCNREID_JOBS_PER_GPU", str(per_gpu))


def _worker_init(gpu_queue, per_gpu=1):
    """A worker process's start: :func:`_pin_gpu`, then the training's stop-signal handler for
    the worker's whole life: a SIGTERM forwarded by the parent stops the worker's training after
    its mini-batch, with a checkpoint (``TrainingInterrupted``, sent back as the result)."""
    _pin_gpu(gpu_queue, per_gpu)
    from experiments.interrupts import interrupt_guard
    guard = interrupt_guard()
    guard.__enter__()
    _GUARD.append(guard)


def _worker(args):
    run_rows, options, rows, units_ref, dataset, trial = args
    from rcnreid.engine.interrupt import TrainingInterrupted, current
    flag = current()
    if flag is not None and flag.requested:     # stopped already: start no new (dataset, trial)
        raise TrainingInterrupted("%s received: %s trial %d not started; run the same command "
                                  "again to go on" % (flag.signame, dataset, trial))
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
    status, stopped = {}, []
    with concurrent.futures.ProcessPoolExecutor(options.jobs, mp_context=mpctx,
                                                initializer=_worker_init,
                                                initargs=(queue, jobs_per_gpu(options.jobs,
                                                                              gpus))) as pool, \
            forward_to(lambda: list(getattr(pool, "_processes", None) or ())) as signals:
        futs = [pool.submit(_worker, (run_rows, options, rows, units_ref, d, t))
                for d, t in tasks]
        pending = set(futs)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.5)
            if signals:                     # stop requested: start nothing new
                for fut in pending:
                    fut.cancel()
            for fut in done:
                if fut.cancelled():
                    continue
                try:
                    d, t, st = fut.result()
                except Exception as exc:    # noqa: BLE001 - sorted below
                    if not is_interrupted(exc):
                        raise
                    stopped.append(exc)
                    continue
                status[(d, t)] = st
                log("%s: %s trial %d finished" % (table_id, d, t))
            pending = {f for f in pending if not f.cancelled()}
    if stopped or signals:
        # every worker has written its checkpoint: the process exits with status 75
        raise stopped[0] if stopped else _interrupted(signals[0])
    return status


def _interrupted(signum):
    """The TrainingInterrupted of a table run stopped by ``signum`` before any worker trained."""
    import signal
    from rcnreid.engine.interrupt import TrainingInterrupted
    return TrainingInterrupted("%s received: stopped before the next (dataset, trial) started; "
                               "run the same command again to go on"
                               % signal.Signals(signum).name)
