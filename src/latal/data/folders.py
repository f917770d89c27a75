"""A folder of images: one sub-folder per class, or a flat folder of unlabeled images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latal.data.dataset import Dataset
from latal.exceptions import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_folder(path, *, image_size: tuple[int, int] | None = None, mode: str | None = None) -> Dataset:
    """Read images with Pillow.

    ``path/<class>/*.png`` gives a labeled dataset whose classes are the sub-folder names
    (sorted); image files directly in ``path`` give an unlabeled pool. All images must share
    one size unless ``image_size=(height, width)`` is given, which resizes them. ``mode`` is a
    Pillow mode (``"L"`` grey, ``"RGB"``); by default grey when every image is grey.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _images_in(root)
    if class_dirs and loose:
        raise DataError(
            f"{root} holds both image files and sub-folders; put every image in a class sub-folder "
            "(labeled) or all of them directly in the folder (unlabeled)."
        )
    if class_dirs:
        names = [d.name for d in class_dirs]
        files, labels = [], []
        for i, d in enumerate(class_dirs):
            imgs = _images_in(d)
            files.extend(imgs)
            labels.extend([i] * len(imgs))
        y = np.asarray(labels, dtype=np.int64)
    else:
        names, files, y = [], loose, None
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root}.")

    opened = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{f} is not a readable image ({exc}); remove or replace it.") from exc
    if mode is None:
        mode = "L" if all(im.mode in ("L", "1", "I;16", "I", "LA") for im in opened) else "RGB"
    arrays = []
    size = None
    for f, im in zip(files, opened):
        im = im.convert(mode)
        if image_size is not None:
            im = im.resize((image_size[1], image_size[0]), Image.BILINEAR)
        if size is None:
            size = im.size
        elif im.size != size:
            raise DataError(
                f"{f} is {im.size[0]}x{im.size[1]} but earlier images are {size[0]}x{size[1]}; "
                "pass an image size (--image-size H W) to resize them all."
            )
        arrays.append(np.asarray(im, dtype=np.uint8))
    x = np.stack(arrays)
    return Dataset(name=root.name, x=x, y=y, class_names=names, paths=[str(f) for f in files],
                   meta={"source": str(root), "mode": mode})
