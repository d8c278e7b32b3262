"""Finding the camera and person folders of a raw dataset tree (shared by the converters)."""
import os
import re

from rcnreid.errors import UserError


def find_base(root, candidates, marker, what):
    """The first of ``root/<candidate>`` that holds a camera folder.

    ``marker`` is the name of a camera folder (e.g. ``cam1``) or a tuple of names (every camera
    of the layout): a base that holds *any* of them is chosen, so that a missing camera is then
    reported by :func:`scan_camera` under its own name. Raises UserError naming the expected
    camera folder when no candidate holds one (under the deepest candidate folder that exists,
    or under the first candidate when none does).
    """
    root = os.fspath(root)
    markers = (marker,) if isinstance(marker, str) else tuple(marker)
    if not os.path.isdir(root):
        raise UserError("%s: --root is not a folder; point it at your copy of %s" % (root, what))
    for c in candidates:
        base = os.path.join(root, c) if c else root
        if any(os.path.isdir(os.path.join(base, m)) for m in markers):
            return base
    existing = [c for c in candidates if c and os.path.isdir(os.path.join(root, c))]
    where = max(existing, key=lambda c: len(c.split(os.sep))) if existing else candidates[0]
    expect = os.path.join(root, where, markers[0]) if where else os.path.join(root, markers[0])
    raise UserError("%s: camera folder missing; expected the %s layout under --root (see "
                    "docs/DATA.md)" % (expect, what))


def scan_camera(cam_dir, pattern, skipped):
    """Person folders of one camera: ``{person id: folder name}`` for names matching ``pattern``
    (a regex with one group of digits); other entries are skipped and counted."""
    if not os.path.isdir(cam_dir):
        raise UserError("%s: camera folder missing; expected one folder per camera (see "
                        "docs/DATA.md)" % cam_dir)
    rx = re.compile(pattern)
    persons = {}
    try:
        names = sorted(os.listdir(cam_dir))
    except OSError as exc:
        raise UserError("%s: cannot list the camera folder (%s); check its permissions"
                        % (cam_dir, exc.strerror or exc))
    for name in names:
        m = rx.fullmatch(name)
        if not m or not os.path.isdir(os.path.join(cam_dir, name)):
            skipped["unexpected entry in a camera folder"] += 1
            continue
        pid = int(m.group(1))
        if pid in persons:
            raise UserError("%s and %s: two folders for person %d; remove one"
                            % (os.path.join(cam_dir, persons[pid]), os.path.join(cam_dir, name), pid))
        persons[pid] = name
    if not persons:
        raise UserError("%s: no person folders (expected names like %s)" % (cam_dir, pattern))
    return persons
