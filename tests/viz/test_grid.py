import numpy as np
import pytest
import torch
from matplotlib.image import imread

from ebmlab.errors import DataError
from ebmlab.viz.grid import image_grid, save_image_grid


def test_layout_and_placement():
    images = torch.arange(5, dtype=torch.float32).reshape(5, 1, 1, 1).expand(5, 1, 3, 4) / 10
    grid = image_grid(images, nrow=2, padding=1, pad_value=1.0)
    assert grid.shape == (3 * 4 + 1, 2 * 5 + 1, 1)
    assert np.allclose(grid[1:4, 1:5, 0], 0.0)  # image 0 top-left
    assert np.allclose(grid[5:8, 6:10, 0], 0.3)  # image 3: second row, second column
    assert np.allclose(grid[9:12, 6:10, 0], 1.0)  # empty cell keeps the pad value
    assert np.allclose(grid[0, :, 0], 1.0)


def test_normalize_whole_batch_and_each():
    images = torch.stack([torch.full((1, 2, 2), -1.0), torch.full((1, 2, 2), 3.0)])
    images[1, 0, 0, 0] = 5.0
    whole = image_grid(images, nrow=2, padding=0, normalize=True)
    assert whole.min() == 0.0 and whole.max() == 1.0 and np.isclose(whole[1, 3, 0], 4 / 6)
    each = image_grid(images, nrow=2, padding=0, normalize=True, scale_each=True)
    assert np.isclose(each[1, 3, 0], 0.0) and np.isclose(each[0, 2, 0], 1.0)
    clipped = image_grid(images, nrow=2, padding=0)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_save_grey_and_colour(tmp_path):
    grey = save_image_grid(tmp_path / "g.png", torch.rand(6, 1, 5, 5), nrow=3, padding=1)
    assert imread(grey).shape == (2 * 6 + 1, 3 * 6 + 1, 4)
    colour = torch.zeros(1, 3, 4, 4)
    colour[:, 0] = 1.0
    png = imread(save_image_grid(tmp_path / "sub" / "c.png", colour, padding=0))
    assert png.shape[:2] == (4, 4) and np.allclose(png[..., 0], 1) and np.allclose(png[..., 1], 0)


def test_bad_shapes():
    with pytest.raises(DataError, match="N×C×H×W"):
        image_grid(torch.zeros(3, 8, 8))
    with pytest.raises(DataError, match="2 channels"):
        save_image_grid("x.png", torch.zeros(1, 2, 4, 4))
