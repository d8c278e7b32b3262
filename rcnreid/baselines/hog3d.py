"""HOG3D (Kläser, Marszałek, Schmid, BMVC 2008) on walking-cycle fragments (Wang et al., 2014).

A fragment (T, H, W) of grey frames is divided into 2 x 5 (spatial, x by y) x 2 (temporal) cells
with 50% overlap between neighbouring cells (paper Sec. 5.4.3); in each cell the 3-D gradients
(d/dx, d/dy, d/dt) are quantised on the faces of a regular polyhedron and accumulated into a
histogram; each cell histogram is L2-normalised and the cells are concatenated:
``dim = 2 * 5 * 2 * n_bins`` (400 with the icosahedron's 20 faces).

Quantisation (Kläser et al., Sec. 3.2): a cell is split into sub-blocks; the mean gradient ``g`` of
a sub-block (from an integral video) is projected on the unit face normals ``P`` of the polyhedron,
``q = P g / ||g||``, thresholded by ``t = p_i . p_j`` of two neighbouring faces (so that a gradient
pointing at a face centre votes for that face only), and rescaled to the gradient's magnitude:
``q = ||g|| * max(q - t, 0) / ||max(q - t, 0)||``. Half orientation (``full_orientation=False``)
merges opposite faces (|P g|).
"""
import dataclasses

import numpy as np

from rcnreid.baselines.fragments import resize_frames, to_gray, fragment_indices
from rcnreid.baselines.fep import FEPConfig, landmarks, fragment_centres
from rcnreid.errors import UserError

PHI = (1.0 + 5 ** 0.5) / 2.0


def polyhedron_axes(name="icosahedron", full_orientation=True):
    """Unit face normals (n, 3) of a regular polyhedron in (x, y, t) coordinates.

    The icosahedron's 20 face centres are the dodecahedron's vertices and vice versa (12).
    With ``full_orientation=False`` one of each pair of opposite faces is kept (10 or 6).
    """
    if name == "icosahedron":
        pts = [(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
        for s1 in (-1, 1):
            for s2 in (-1, 1):
                pts += [(0, s1 / PHI, s2 * PHI), (s1 / PHI, s2 * PHI, 0), (s1 * PHI, 0, s2 / PHI)]
    elif name == "dodecahedron":
        pts = []
        for s1 in (-1, 1):
            for s2 in (-1, 1):
                pts += [(0, s1, s2 * PHI), (s1, s2 * PHI, 0), (s1 * PHI, 0, s2)]
    else:
        raise UserError("polyhedron=%r: unknown; use icosahedron or dodecahedron" % (name,))
    P = np.asarray(pts, dtype=np.float64)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    if not full_orientation:
        keep = []
        for i, p in enumerate(P):
            if not any(np.allclose(p, -P[j]) for j in keep):
                keep.append(i)
        P = P[keep]
    return P


def face_threshold(P, full_orientation=True):
    """Kläser's threshold: the dot product of two neighbouring face normals (|.| for half)."""
    G = P @ P.T
    if not full_orientation:
        G = np.abs(G)
    np.fill_diagonal(G, -np.inf)
    return float(G.max())


def quantise(g, P, full_orientation=True):
    """Kläser's quantisation of gradients ``g`` (..., 3) on face normals ``P`` -> (..., n_bins)."""
    g = np.asarray(g, dtype=np.float64)
    mag = np.linalg.norm(g, axis=-1, keepdims=True)
    q = (g @ P.T) / np.maximum(mag, 1e-12)
    if not full_orientation:
        q = np.abs(q)
    q = np.maximum(q - face_threshold(P, full_orientation), 0.0)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(norm > 0, mag * q / np.maximum(norm, 1e-12), 0.0)


def gradient_integral(volume):
    """Integral video (T+1, H+1, W+1, 3) of the gradients (d/dx, d/dy, d/dt) of (T, H, W)."""
    v = np.asarray(volume, dtype=np.float64)
    if v.shape[0] >= 2:
        gt, gy, gx = np.gradient(v)
    else:
        gy, gx = np.gradient(v[0])
        gx, gy, gt = gx[None], gy[None], np.zeros_like(v)
    g = np.stack([gx, gy, gt], axis=-1)
    ii = np.zeros((v.shape[0] + 1, v.shape[1] + 1, v.shape[2] + 1, 3))
    ii[1:, 1:, 1:] = g.cumsum(0).cumsum(1).cumsum(2)
    return ii


def box_sums(ii, boxes):
    """Sums of the integrated quantity over boxes (n, 6) = (t0, t1, y0, y1, x0, x1), half-open."""
    t0, t1, y0, y1, x0, x1 = [boxes[:, k] for k in range(6)]
    return (ii[t1, y1, x1] - ii[t0, y1, x1] - ii[t1, y0, x1] - ii[t1, y1, x0]
            + ii[t0, y0, x1] + ii[t0, y1, x0] + ii[t1, y0, x0] - ii[t0, y0, x0])


def overlapping_cells(size, n, overlap=0.5):
    """(n, 2) integer [start, stop) of ``n`` equal cells covering ``size`` with ``overlap``."""
    c = size / (n - (n - 1) * overlap) if n > 1 else float(size)
    starts = np.arange(n) * c * (1 - overlap)
    b = np.stack([np.floor(starts), np.floor(starts + c)], axis=1).astype(np.int64)
    b[:, 1] = np.maximum(np.minimum(b[:, 1], size), b[:, 0] + 1)
    b[:, 0] = np.minimum(b[:, 0], size - 1)
    return b


def split_box(box, sub):
    """Split boxes (n, 6) into st*sy*sx sub-blocks each -> (n, st*sy*sx, 6).

    Sub-block k of an interval [a, b) is [a + (b-a)k/s, a + (b-a)(k+1)/s) rounded down, with at
    least one voxel (sub-blocks repeat when the interval is shorter than s).
    """
    box = np.asarray(box, dtype=np.int64)
    parts = []
    for axis, s in enumerate(sub):
        a, b = box[:, 2 * axis:2 * axis + 1], box[:, 2 * axis + 1:2 * axis + 2]
        k = np.arange(s)[None, :]
        start = np.minimum(a + ((b - a) * k) // s, b - 1)
        stop = np.minimum(np.maximum(a + ((b - a) * (k + 1)) // s, start + 1), b)
        parts.append((start, stop))
    st, sy, sx = sub
    (t0, t1), (y0, y1), (x0, x1) = parts
    out = np.empty((len(box), st, sy, sx, 6), dtype=np.int64)
    out[..., 0] = t0[:, :, None, None]
    out[..., 1] = t1[:, :, None, None]
    out[..., 2] = y0[:, None, :, None]
    out[..., 3] = y1[:, None, :, None]
    out[..., 4] = x0[:, None, None, :]
    out[..., 5] = x1[:, None, None, :]
    return out.reshape(len(box), st * sy * sx, 6)


@dataclasses.dataclass
class HOG3DConfig:
    """HOG3D options (defaults: Sec. 5.4.3 of the paper, Kläser et al. 2008, Wang et al. 2014)."""
    cells: tuple = (2, 5, 2)         # (x, y, t) cells per fragment
    overlap: float = 0.5             # overlap of neighbouring cells
    subblocks: tuple = (2, 2, 2)     # (t, y, x) sub-blocks per cell (Kläser's mean-gradient unit)
    polyhedron: str = "icosahedron"  # "icosahedron" (20 faces) or "dodecahedron" (12)
    full_orientation: bool = True    # False: opposite faces merged (10 / 6 bins)
    fep: FEPConfig = dataclasses.field(default_factory=FEPConfig)

    @property
    def n_bins(self):
        return len(polyhedron_axes(self.polyhedron, self.full_orientation))

    @property
    def dim(self):
        nx, ny, nt = self.cells
        return nx * ny * nt * self.n_bins


def cell_boxes(shape, cells, overlap):
    """(n_cells, 6) boxes (t0,t1,y0,y1,x0,x1) of the overlapping cell grid, order t, y, x."""
    T, H, W = shape
    nx, ny, nt = cells
    bt, by, bx = overlapping_cells(T, nt, overlap), overlapping_cells(H, ny, overlap), \
        overlapping_cells(W, nx, overlap)
    return np.asarray([[t[0], t[1], y[0], y[1], x[0], x[1]] for t in bt for y in by for x in bx],
                      dtype=np.int64)


def box_histograms(ii, boxes, subblocks, P, full_orientation=True):
    """(n, n_bins) histograms: quantised mean gradients of each box's sub-blocks, summed."""
    sub = split_box(boxes, subblocks)
    flat = sub.reshape(-1, 6)
    vol = ((flat[:, 1] - flat[:, 0]) * (flat[:, 3] - flat[:, 2]) * (flat[:, 5] - flat[:, 4]))
    mean_g = box_sums(ii, flat) / np.maximum(vol, 1)[:, None]
    q = quantise(mean_g, P, full_orientation)
    return q.reshape(sub.shape[0], sub.shape[1], -1).sum(axis=1)


def l2_rows(x, eps=1e-12):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def hog3d_volume(volume, cfg=None):
    """HOG3D descriptor (cfg.dim,) of a grey volume (T, H, W): L2-normalised cells, concatenated."""
    cfg = cfg or HOG3DConfig()
    v = np.asarray(volume, dtype=np.float64)
    P = polyhedron_axes(cfg.polyhedron, cfg.full_orientation)
    ii = gradient_integral(v)
    boxes = cell_boxes(v.shape, cfg.cells, cfg.overlap)
    h = box_histograms(ii, boxes, cfg.subblocks, P, cfg.full_orientation)
    return l2_rows(h).reshape(-1).astype(np.float32)


def sequence_fragments(frames, fep_cfg):
    """Grey fragments (n, 2*half+1, h, w) of a sequence around its FEP landmarks."""
    gray = to_gray(resize_frames(frames, fep_cfg.frame_hw))
    idx, _ = landmarks(frames, fep_cfg)
    centres = fragment_centres(len(gray), idx, fep_cfg.half)
    return gray[fragment_indices(len(gray), centres, fep_cfg.half)]


def hog3d_fragments(frames, cfg=None):
    """float32 (n_fragments, cfg.dim): one HOG3D descriptor per landmark fragment of a sequence."""
    cfg = cfg or HOG3DConfig()
    return np.stack([hog3d_volume(f, cfg) for f in sequence_fragments(frames, cfg.fep)])
