#!/usr/bin/python3
"""Reference SSIM values from scikit-image, computed once and stored in test/fixtures/ssim-reference.json,
so the TypeScript test can check ssim.js against them without Python in CI.

Run:  apt-get install -y python3-skimage && /usr/bin/python3 scripts/ssim-reference.py

The images are generated here from a fixed formula (no randomness), and stored in the fixture too, so the
test feeds ssim.js exactly the same bytes. Settings follow Wang et al. 2004 as ssim.js "original" does:
Gaussian window sigma 1.5 (11 x 11), K1 0.01, K2 0.03, population covariance, data range 255.
"""
import json
import math
import os

import numpy as np
import skimage
from skimage.metrics import structural_similarity

W, H = 32, 24


def image(kind):
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    if kind == "gradient":
        g = 255 * (x + y) / (W + H - 2)
        return np.stack([g, 255 - g, np.full_like(g, 128)], axis=-1)
    if kind == "waves":
        r = 127.5 + 127.5 * np.sin(x / 3.0) * np.cos(y / 4.0)
        g = 127.5 + 127.5 * np.sin((x + y) / 5.0)
        b = 127.5 + 127.5 * np.cos(x / 7.0 - y / 2.0)
        return np.stack([r, g, b], axis=-1)
    if kind == "checker":
        c = ((np.floor(x / 4) + np.floor(y / 4)) % 2) * 200 + 30
        return np.stack([c, c * 0.5 + 60, 255 - c], axis=-1)
    if kind == "waves-shifted":
        r = 127.5 + 127.5 * np.sin((x + 1) / 3.0) * np.cos(y / 4.0)
        g = 127.5 + 127.5 * np.sin((x + y + 1) / 5.0)
        b = 127.5 + 127.5 * np.cos((x + 1) / 7.0 - y / 2.0)
        return np.stack([r, g, b], axis=-1)
    if kind == "gradient-noisy":
        base = image("gradient")
        pattern = 20 * np.sin(x * 1.7 + y * 2.3)[..., None] * np.array([1.0, -0.5, 0.8])
        return base + pattern
    raise ValueError(kind)


def u8(a):
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def grey(rgb):
    # ITU-R 601 luma rounded to bytes: the same formula the TypeScript side uses for "grey"
    return u8(0.299 * rgb[..., 0].astype(np.float64) + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])


def ssim(a, b, colour):
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    if colour:
        return float(structural_similarity(a.astype(np.float64), b.astype(np.float64), channel_axis=-1, **kw))
    return float(structural_similarity(a.astype(np.float64), b.astype(np.float64), **kw))


def main():
    names = ["gradient", "waves", "checker", "waves-shifted", "gradient-noisy"]
    imgs = {n: u8(image(n)) for n in names}
    pairs = [("gradient", "gradient-noisy"), ("waves", "waves-shifted"), ("waves", "checker"), ("gradient", "waves"), ("checker", "checker")]
    out = {
        "generator": "scripts/ssim-reference.py",
        "skimage": skimage.__version__,
        "settings": "structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)",
        "width": W,
        "height": H,
        "images": {n: imgs[n].reshape(-1).tolist() for n in names},
        "pairs": [],
    }
    for a, b in pairs:
        out["pairs"].append(
            {
                "a": a,
                "b": b,
                "grey": ssim(grey(imgs[a]), grey(imgs[b]), False),
                "colour": ssim(imgs[a], imgs[b], True),
            }
        )
    path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "ssim-reference.json"))
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {len(pairs)} pairs, skimage {skimage.__version__}")


if __name__ == "__main__":
    main()
