"""Checking a dataset copy against its published description before converting it (issue 29).

A partial download (people, sequences or frames missing) would otherwise convert silently and
cost days of training on the wrong data. The converters therefore compare the raw tree with the
published description of the dataset *before anything is written*:

- people per camera folder (iLIDS-VID: 300 in ``cam1`` and 300 in ``cam2``; PRID 2011: 385 in
  ``cam_a``, 749 in ``cam_b``), and people in both cameras (300; 200);
- sequences of the people in both cameras (600; 400), none of them an empty folder;
- frames per sequence within the published range (23-192; 5-675);
- every frame of those sequences readable (:func:`rcnreid.data.frames.frame_problem`: header and
  PNG chunk checksums, no pixel decoding).

A departure stops the conversion with one line naming what is missing (the folders, people and
files) and the fix, ``--allow-incomplete``. With it the converter leaves out what cannot be used
(unreadable frames; people without a non-empty sequence in both cameras), converts the rest and
records the departure in the HDF5 file: attributes ``copy_check`` (``complete`` /
``incomplete``), ``shortfall`` (the problems, one line) and ``published`` (the description
checked against); :class:`rcnreid.data.reader.ReIDDataset` exposes them as ``copy_check``,
``shortfall`` and ``published``.

The published counts are the constants :data:`ILIDSVID` and :data:`PRID2011` (sources in their
``source`` field); the converters take another :class:`Published` through their ``published``
argument (the tests shrink the counts that way), or ``published=None`` for no check at all (the
Python API only; ``rcnreid prepare`` always checks).
"""
import dataclasses
import os

from rcnreid.data.frames import frame_problem, is_image_name, list_frames
from rcnreid.errors import UserError

#: Items named per problem in the one-line error; the file's ``shortfall`` names up to
#: :data:`RECORD_ITEMS`.
SHOW_ITEMS = 3
RECORD_ITEMS = 50
#: Problems spelled out in the one-line error (the rest are counted).
SHOW_PROBLEMS = 4
FIX = "pass --allow-incomplete to convert anyway (the file records the shortfall)"


@dataclasses.dataclass(frozen=True)
class Published:
    """The published description of a dataset copy."""
    name: str                 # "iLIDS-VID"
    cameras: tuple            # ((camera folder, people), ...), probe camera first
    both: int                 # people seen by both cameras
    sequences: int            # sequences of the people seen by both cameras
    min_frames: int           # fewest frames of a sequence
    max_frames: int           # most frames of a sequence
    id_ranges: tuple = None   # ((first id, last id), ...) per camera when the ids are contiguous
    pair_ids: tuple = None    # (first id, last id) of the people seen by both cameras, when the
                              # same folder name in the other camera may be another person
    source: str = ""

    def describe(self):
        cams = ", ".join("%d in %s" % (n, c) for c, n in self.cameras)
        return ("%s: people %s, %d in both; %d sequences of %d-%d frames (%s)"
                % (self.name, cams, self.both, self.sequences, self.min_frames,
                   self.max_frames, self.source))


#: iLIDS-VID as published: Section 5.1 of the paper ("600 image sequences for 300 randomly sampled
#: people ... from two non-overlapping camera views ... ranging from 23 to 192 images") and the
#: dataset's own description (Wang et al., ECCV 2014). Person ids run 1-319 with gaps, so a person
#: missing from both cameras cannot be named.
ILIDSVID = Published(
    name="iLIDS-VID", cameras=(("cam1", 300), ("cam2", 300)), both=300, sequences=600,
    min_frames=23, max_frames=192,
    source="paper Section 5.1; Wang et al., ECCV 2014")

#: PRID 2011 multi-shot as published: the dataset's description (Hirzer et al., SCIA 2011: 385
#: people in camera A, 749 in camera B, the first 200 seen by both) and Section 5.1 of the paper
#: ("400 image sequences for 200 persons ... between 5 and 675 frames"). ``person_0201`` to
#: ``person_0385`` exist in both camera folders but are different people (each camera's
#: distractors), hence ``pair_ids``.
PRID2011 = Published(
    name="PRID 2011", cameras=(("cam_a", 385), ("cam_b", 749)), both=200, sequences=400,
    min_frames=5, max_frames=675, id_ranges=((1, 385), (1, 749)), pair_ids=(1, 200),
    source="paper Section 5.1; Hirzer et al., SCIA 2011")


def list_sequence(folder, skipped):
    """The frames of one sequence folder in order, or ``[]`` when it holds none (an empty folder
    is then the check's to report); other faults of :func:`list_frames` stay errors."""
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise UserError("%s: cannot list the sequence folder (%s)" % (folder, exc.strerror))
    if not any(is_image_name(n) and os.path.isfile(os.path.join(folder, n)) for n in names):
        if skipped is not None and names:
            skipped["non-image file in a sequence folder"] += len(names)
        return []
    return list_frames(folder, skipped)


@dataclasses.dataclass
class Problem:
    """One kind of departure: a head ("…/cam2: 298 people, the published copy has 300") and
    the items it names (people, folders, files)."""
    head: str
    items: list = dataclasses.field(default_factory=list)
    label: str = None         # "missing": "head (missing a, b)"; None: "head: a, b"

    def line(self, limit):
        if not self.items:
            return self.head
        shown = ", ".join(self.items[:limit])
        more = " and %d more" % (len(self.items) - limit) if len(self.items) > limit else ""
        if self.label is None:
            return "%s: %s%s" % (self.head, shown, more)
        return "%s (%s %s%s)" % (self.head, self.label, shown, more)


@dataclasses.dataclass
class CheckResult:
    """What :func:`check_copy` found: the problems, and what a conversion must leave out."""
    published: Published
    problems: list
    unreadable: dict          # frame path -> reason
    empty: set                # (person, camera number) of empty sequence folders
    sequences: int            # usable sequences of the people in both cameras
    frames: int               # frames checked

    @property
    def complete(self):
        return not self.problems

    def summary(self, limit=RECORD_ITEMS):
        """The problems as one line (``limit`` items named per problem)."""
        return "; ".join(p.line(limit) for p in self.problems)

    def error_line(self):
        shown = [p.line(SHOW_ITEMS) for p in self.problems[:SHOW_PROBLEMS]]
        if len(self.problems) > SHOW_PROBLEMS:
            shown.append("and %d more problems" % (len(self.problems) - SHOW_PROBLEMS))
        return "; ".join(shown + [FIX])

    def attrs(self):
        """The HDF5 attributes that record the check."""
        out = {"copy_check": "complete" if self.complete else "incomplete",
               "published": self.published.describe()}
        if not self.complete:
            out["shortfall"] = self.summary()
        return out


def name_runs(ids, person_name):
    """Folder names of ``ids`` with runs of consecutive ids as one item ("a to b")."""
    out, ids = [], sorted(ids)
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j - i >= 2:
            out.append("%s to %s" % (person_name(ids[i]), person_name(ids[j])))
        else:
            out.extend(person_name(p) for p in ids[i:j + 1])
        i = j + 1
    return out


def check_copy(published, base, cams, pairs, sequences, person_name, log=None):
    """Compare a scanned tree with ``published``.

    ``base``: the folder holding the camera folders; ``cams``: ``{camera number: {person id:
    folder name}}`` (camera numbers 1, 2 in the order of ``published.cameras``);
    ``pairs``: the people seen by both cameras; ``sequences``: ``{(person, camera number):
    [frame paths]}`` of those people (``[]`` for an empty folder); ``person_name(pid)``: a
    person's folder name for the messages.
    Returns a :class:`CheckResult`; raises nothing.
    """
    problems = []
    nums = sorted(cams)
    cam_problem = False
    for k, ((cam, n_pub), num) in enumerate(zip(published.cameras, nums)):
        have = set(cams[num])
        others = set().union(*(set(cams[o]) for o in nums if o != num))
        if published.id_ranges:             # the published ids are known: name every departure
            lo, hi = published.id_ranges[k]
            expected = set(range(lo, hi + 1))
            missing, extra = sorted(expected - have), sorted(have - expected)
        elif len(have) < n_pub:
            missing, extra = sorted(others - have), []
        else:
            missing, extra = [], sorted(have - others)
        if len(have) == n_pub and not (published.id_ranges and (missing or extra)):
            continue
        cam_problem = True
        head = "%s: %d people, the published copy has %d" % (os.path.join(base, cam), len(have),
                                                             n_pub)
        named = name_runs(missing, person_name)
        unnamed = n_pub - len(have) - len(named)
        if unnamed > 0 and not published.id_ranges:
            named.append("%d absent from both cameras" % unnamed)
        if named:
            problems.append(Problem(head, named, "missing"))
        if extra:
            extra_names = name_runs(extra, person_name)
            if named:
                problems.append(Problem("%s holds folders the published copy lacks"
                                        % os.path.join(base, cam), extra_names))
            else:
                problems.append(Problem(head, extra_names, "unpublished:"))
        elif not named:
            problems.append(Problem(head))
    if len(pairs) != published.both and not cam_problem:
        head = "%s: %d people in both cameras, the published copy has %d" % (
            base, len(pairs), published.both)
        if published.pair_ids:
            want = set(range(published.pair_ids[0], published.pair_ids[1] + 1))
            problems.append(Problem(head, name_runs(want - set(pairs), person_name),
                                    "missing"))
        else:
            one = set.union(*(set(cams[n]) for n in nums)) - set(pairs)
            problems.append(Problem(head, name_runs(one, person_name), "in one camera only:"))
    cam_folder = dict(zip(nums, (c for c, _ in published.cameras)))

    def where(pid, num):
        return os.path.join(base, cam_folder[num], cams[num][pid])

    empty = {key for key, paths in sequences.items() if not paths}
    if empty:
        problems.append(Problem("%d empty sequence folder%s" % (len(empty), "s" if len(empty) > 1
                                                                  else ""),
                                [where(*key) for key in sorted(empty)]))
    total = sum(len(p) for p in sequences.values())
    if log:
        log("checking %d frames of %d sequences against the published %s"
            % (total, len(sequences) - len(empty), published.name))
    unreadable = {}
    for key in sorted(sequences):
        for path in sequences[key]:
            why = frame_problem(path)
            if why:
                unreadable[path] = why
    if unreadable:
        problems.append(Problem("%d unreadable frame%s" % (len(unreadable), "s" if
                                                            len(unreadable) > 1 else ""),
                                ["%s: %s" % (p, unreadable[p]) for p in sorted(unreadable)]))
    short = [(key, len(p)) for key, p in sorted(sequences.items()) if p and not
             published.min_frames <= len(p) <= published.max_frames]
    if short:
        problems.append(Problem(
            "%d sequence%s outside the published %d-%d frames"
            % (len(short), "s" if len(short) > 1 else "", published.min_frames,
               published.max_frames),
            ["%s (%d frames)" % (where(*key), n) for key, n in short]))
    usable = {key for key, paths in sequences.items()
              if any(p not in unreadable for p in paths)}
    people = {pid for pid, _ in usable if all((pid, n) in usable for n in nums)}
    n_seq = len(people) * len(nums)
    if n_seq != published.sequences and not problems:
        problems.append(Problem("%s: %d usable sequences, the published copy has %d"
                                % (base, n_seq, published.sequences)))
    return CheckResult(published, problems, unreadable, empty, n_seq, total)


def settle(result, allow_incomplete, log=None):
    """Stop with one line when ``result`` departs from the published copy, unless
    ``allow_incomplete``; then log what is converted anyway."""
    if result.complete:
        if log:
            log("the copy matches the published %s: %d sequences, %d frames"
                % (result.published.name, result.sequences, result.frames))
        return
    if not allow_incomplete:
        raise UserError(result.error_line())
    if log:
        log("warning: converting an incomplete copy (--allow-incomplete): %s"
            % result.summary(SHOW_ITEMS))


def load_splits(result, load, people):
    """``load()`` (the splits), naming the incomplete copy when a splits file does not fit it:
    the published splits index the published people, so with people left out they cannot be
    mapped."""
    try:
        return load()
    except UserError as exc:
        if result is None or result.complete:
            raise
        raise UserError("%s; the copy is incomplete (%d people converted, the published copy "
                        "has %d), so splits made for the published people do not fit it: use "
                        "random splits (iLIDS-VID: --splits-random SEED; PRID 2011: no splits "
                        "file) or a --splits-json listing the people converted"
                        % (exc, people, result.published.both))


def scan_pairs(base, cameras, cams, pairs, published, allow_incomplete, skipped, person_name,
               log=None):
    """List the frames of every sequence of ``pairs`` and, with ``published``, check the copy
    (:func:`check_copy`) and stop or go on (:func:`settle`). Returns ``(result, sequences)``:
    the check's :class:`CheckResult` (None without ``published``) and, per person of ``pairs``,
    ``(pid, [(camera number, "camera/folder", usable frame paths), ...])`` in ``cameras`` order.

    ``cameras``: ``((camera folder, camera number), ...)``; ``cams``: ``{camera number: {person
    id: folder name}}``; ``person_name(pid)``: a folder name for the messages. Without
    ``published`` frames are listed strictly (an empty folder is an error). Unreadable frames left
    out are counted in ``skipped``.
    """
    frames = {}
    for pid in pairs:
        for cam, num in cameras:
            folder = os.path.join(base, cam, cams[num][pid])
            frames[(pid, num)] = (list_frames(folder, skipped) if published is None
                                  else list_sequence(folder, skipped))
    result = None
    if published is not None:
        result = check_copy(published, base, cams, pairs, frames, person_name, log)
        settle(result, allow_incomplete, log)
        if result.unreadable:
            skipped["unreadable frame left out (incomplete copy)"] += len(result.unreadable)
    sequences = [(pid, [(num, "%s/%s" % (cam, cams[num][pid]),
                         usable_frames(result, frames[(pid, num)])) for cam, num in cameras])
                 for pid in pairs]
    return result, sequences


def usable_frames(result, paths):
    """``paths`` without the frames :func:`check_copy` found unreadable."""
    if result is None or not result.unreadable:
        return list(paths)
    return [p for p in paths if p not in result.unreadable]
