"""The device time a table actually took: every finished unit records its own wall seconds and the
device it ran on (:func:`experiments.runner.compute_unit`), and a table's report sums them over
the units its rows need (:mod:`experiments.unit_graph`), each unit once.

A unit's ``own_seconds`` is its wall time less the units it computed on the way (Table 3's
"Average pooling" row computes the Deep RCN's training inside its own call): each second is counted
once. Results written before 2 Dec 2026 have only ``seconds`` (inclusive) and no device; those of
units that depend on nothing are counted (there, both are the same), the others are reported as
not timed.
"""
import os
import sys

NOT_RECORDED = "device not recorded"


def device_label():
    """What the units of this process compute on: ``"<GPU name> (cuda0)"`` when Theano runs on a
    GPU, ``"CPU: <model>, <n> cores"`` otherwise. Never imports Theano itself (a unit that trains
    has imported it; one that did not ran on the CPU)."""
    config = sys.modules.get("rcnreid.backend.theano_config")
    if config is not None:
        try:
            if config.gpu_active():
                name = config.theano.config.device
                try:
                    from theano.gpuarray.type import get_context
                    return "%s (%s)" % (get_context(None).devname, name)
                except Exception:   # noqa: BLE001 - the name is a nicety
                    return name
        except Exception:   # noqa: BLE001 - a half-initialised backend: say CPU
            pass
    return "CPU: %s, %d cores" % (_cpu_model(), len(os.sched_getaffinity(0))
                                  if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine() or "unknown"


def unit_seconds(result, has_dependencies):
    """``(seconds, device)`` a finished unit's cached result records as its own, or ``(None,
    None)`` when it cannot say (an older result of a unit that computes others)."""
    if "own_seconds" in result:
        return float(result["own_seconds"]), result.get("device") or NOT_RECORDED
    if "seconds" in result and not has_dependencies:
        return float(result["seconds"]), NOT_RECORDED
    return None, None


def table_device_time(table_id, rows, options):
    """``{"seconds", "hours", "by_device": {label: seconds}, "units_timed", "units_untimed",
    "units_pending"}``: the device time of every finished unit that the rows of ``table_id``
    need (all rows, dependencies included), over ``options``' datasets and trials."""
    from experiments.cache import read_cached
    from experiments.unit_graph import units_of_rows
    by_device, timed, untimed, pending = {}, 0, 0, 0
    name = "table5" if table_id == "fig5" else table_id
    for unit in units_of_rows([(name, rows)], options, count_steps=False,
                              strict=False):
        if unit.not_run:
            continue
        res = read_cached(options, unit.dataset, unit.trial, unit.key)
        if res is None:
            pending += 1
            continue
        sec, dev = unit_seconds(res, bool(unit.depends))
        if sec is None:
            untimed += 1
            continue
        timed += 1
        by_device[dev] = by_device.get(dev, 0.0) + sec
    total = sum(by_device.values())
    return {"seconds": total, "hours": total / 3600.0, "by_device": by_device,
            "units_timed": timed, "units_untimed": untimed, "units_pending": pending}


def format_device_time(dt):
    """One line for the Markdown report: ``Device time: 12.3 h on <device> (...)``."""
    if not dt or not (dt["units_timed"] or dt["units_untimed"]):
        return "Device time: nothing finished yet."
    parts = ["%s on %s" % (_hours(s), dev)
             for dev, s in sorted(dt["by_device"].items(), key=lambda kv: -kv[1])]
    line = "Device time: %s" % (" + ".join(parts) if parts else "0 h")
    notes = ["%d finished units" % dt["units_timed"]]
    if dt["units_untimed"]:
        notes.append("%d older results without their own time" % dt["units_untimed"])
    if dt["units_pending"]:
        notes.append("%d units not finished" % dt["units_pending"])
    return "%s (%s; each unit's own wall time, shared units once)." % (line, ", ".join(notes))


def _hours(seconds):
    return "%.2f h" % (seconds / 3600.0) if seconds >= 360 else "%.0f s" % seconds
