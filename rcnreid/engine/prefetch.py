"""Preparing the next mini-batch while the current one trains (issue 28.3).

:func:`prefetched` yields ``prepare(item)`` for each item in order; with ``on`` it runs
``prepare`` of the next item in one background thread while the caller works on the current one.
The preparations still run one after another, in the items' order, so the random draws they make
from a shared RandomState come in the same order as without prefetch and the results are the
same bit for bit (``tests/test_train_prefetch.py``). The overlap is real where the caller's work
releases the GIL (BLAS, the oneDNN convolutions, a GPU's kernels, file reads) and the preparation's
numpy work does too.

>>> list(prefetched([1, 2, 3], lambda x: 10 * x))
[10, 20, 30]
>>> list(prefetched([1, 2, 3], lambda x: 10 * x, on=False))
[10, 20, 30]
"""
from concurrent.futures import ThreadPoolExecutor


def prefetched(items, prepare, on=True):
    """Yield ``prepare(item)`` for each of ``items`` in order, the next one prepared in a
    background thread while the caller holds the current one (``on``; else all in the caller's
    thread). An exception of ``prepare`` is raised where its item would have been yielded; a
    caller that stops early leaves at most one preparation running, which finishes before the
    generator is closed."""
    items = list(items)
    if not on or len(items) < 2:
        for it in items:
            yield prepare(it)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="rcnreid-prefetch") as pool:
        pending = pool.submit(prepare, items[0])
        for i in range(len(items)):
            x = pending.result()
            if i + 1 < len(items):
                pending = pool.submit(prepare, items[i + 1])
            yield x
