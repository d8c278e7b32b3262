"""A tiny synthetic walker for the baselines' unit tests (no dataset file needed)."""
import numpy as np


def walker(length=48, period=16.0, hw=(96, 48), seed=0, shirt=(200, 60, 60), pants=(40, 40, 160),
           phase=0.0, swing=0.45):
    """uint8 (length, H, W, 3): a textured figure whose legs swing with ``period`` frames.

    The leg angle is ``swing * sin(2 pi t / period + phase)``; the figure stays centred (a tracked
    box) over a static textured background, so the lower-half optical flow is the legs' motion.
    """
    rng = np.random.RandomState(seed)
    H, W = hw
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    bg = 110 + 25 * rng.rand(H // 4 + 1, W // 4 + 1, 1)
    bg = np.repeat(np.repeat(bg, 4, 0), 4, 1)[:H, :W] * np.ones(3)
    out = np.empty((length, H, W, 3), dtype=np.uint8)
    cx, hip, foot = W / 2.0, 0.5 * H, 0.95 * H
    stripes = (np.sin(yy / 2.0) > 0)[..., None]
    for t in range(length):
        img = bg.copy()
        torso = (np.abs(xx - cx) < 0.22 * W) & (yy > 0.15 * H) & (yy < hip)
        cloth = np.where(stripes, np.asarray(shirt, float), np.asarray(shirt, float) * 0.6)
        img[torso] = cloth[torso]
        head = ((xx - cx) / (0.1 * W)) ** 2 + ((yy - 0.09 * H) / (0.06 * H)) ** 2 <= 1
        img[head] = (210, 170, 140)
        ang = swing * np.sin(2 * np.pi * t / period + phase)
        for sign in (-1.0, 1.0):
            a = sign * ang
            hx = cx + sign * 0.08 * W
            fx, fy = hx + (foot - hip) * np.sin(a), hip + (foot - hip) * np.cos(a)
            # distance of each pixel to the segment hip -> foot
            dx, dy = fx - hx, fy - hip
            u = np.clip(((xx - hx) * dx + (yy - hip) * dy) / (dx * dx + dy * dy), 0, 1)
            d = np.hypot(xx - hx - u * dx, yy - hip - u * dy)
            img[d < 0.07 * W + 1] = np.asarray(pants, float) * (0.8 if sign < 0 else 1.0)
        img += rng.normal(0, 2.0, img.shape)
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out
