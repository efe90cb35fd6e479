"""Images from a folder of PNG/JPEG/BMP/GIF files (sub-folders included), for generative models.

Every image is converted to grey (``channels=1``) or RGB (``channels=3``),
centre-cropped to a square and resized to ``size``×``size`` (bilinear with
anti-aliasing), and returned as float32 N×C×size×size in [0, 1], sorted by path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ebmlab.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_image_folder(folder: str | Path, size: int, channels: int = 1, limit: int | None = None) -> torch.Tensor:
    """Load, square-crop and resize every image under ``folder`` (see the module doc)."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist; pass --data-dir with a folder of images")
    if channels not in (1, 3):
        raise DataError(f"images can have 1 or 3 channels, got {channels}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    out = np.empty((len(paths), size, size, channels), np.float32)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                w, h = im.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(im, np.float32).reshape(size, size, channels) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
