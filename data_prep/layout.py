"""Finding the camera and person folders of a raw dataset tree (shared by the converters)."""
import os
import re

from rcnreid.errors import UserError


def find_base(root, candidates, marker, what):
    """The first of ``root/<candidate>`` that holds the folder ``marker`` (e.g. ``cam1``).

    Raises UserError naming the missing camera folder when none does.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise UserError("%s: --root is not a folder; point it at your copy of %s" % (root, what))
    for c in candidates:
        base = os.path.join(root, c) if c else root
        if os.path.isdir(os.path.join(base, marker)):
            return base
    expect = os.path.join(root, candidates[0], marker) if candidates[0] else os.path.join(root, marker)
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
    for name in sorted(os.listdir(cam_dir)):
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
