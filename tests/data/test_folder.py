"""Images from a user's folder, for the generative models."""

import numpy as np
import pytest
from matplotlib.image import imsave

from ebmlab.data.folder import load_image_folder
from ebmlab.data.images import load_images
from ebmlab.errors import DataError


def test_folder_images_are_cropped_resized_and_scaled(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    imsave(tmp_path / "a.png", rng.random((40, 60, 3)))
    imsave(tmp_path / "sub" / "b.png", np.ones((20, 20)), cmap="gray", vmin=0, vmax=1)
    (tmp_path / "notes.txt").write_text("not an image")
    x = load_image_folder(tmp_path, 16, channels=3)
    assert x.shape == (2, 3, 16, 16) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(x[1].min()) > 0.99  # the white image, found in the sub-folder
    grey = load_images("folder", image_size=8, data_dir=str(tmp_path))
    assert grey.images.shape == (2, 1, 8, 8) and grey.labels is None and float(grey.images.min()) >= -1


def test_bad_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "missing", 8)
    with pytest.raises(DataError, match="no images"):
        load_image_folder(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="cannot read image"):
        load_image_folder(tmp_path, 8)
