"""The per-epoch training log: one JSON object per line (``train_log.jsonl``) in the run folder.

Fields: epoch, loss (mean over the epoch's mini-batches), accuracy (pair accuracy: the fraction of
pairs whose Eq. 5 similarity is on the right side of 0.5), pairs, seconds.
"""
import json
import os

from rcnreid.store.atomic import write_text

LOG_NAME = "train_log.jsonl"


def read_log(path):
    """The rows of a log file ([] if there is none); a torn last line is dropped."""
    rows = []
    if not os.path.isfile(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
    return rows


def truncate_log(path, last_epoch):
    """Keep only the rows of epochs <= ``last_epoch`` (before resuming from that checkpoint)."""
    rows = [r for r in read_log(path) if int(r.get("epoch", 0)) <= last_epoch]
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return rows


def append_row(path, row):
    """Append one row; a full disk is one UserError line (a torn row is dropped on resume)."""
    from rcnreid.store.atomic import write_error
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
    except OSError as exc:
        raise write_error(path, exc)
