import time

import numpy as np
import pytest
import torch

from ebmlab.data import PHOTOGRAPHS, load_patches, zca_fit
from ebmlab.data.patches import photograph, sample_patches
from ebmlab.errors import DataError


def test_photographs_are_grey_in_unit_range():
    for name in PHOTOGRAPHS:
        image = photograph(name)
        assert image.ndim == 2 and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05


def test_raw_patches_are_crops_of_the_image():
    image = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    x = sample_patches(500, 5, seed=3, images=[image])
    assert x.shape == (500, 25)
    for p in x[:50].reshape(-1, 5, 5):
        r, c = divmod(int(p[0, 0]), 30)
        np.testing.assert_array_equal(p, image[r : r + 5, c : c + 5])
    corners = x[:, 0].astype(int)
    rows, cols = corners // 30, corners % 30
    assert rows.max() == 35 and cols.max() == 25 and rows.min() == 0  # the whole range is used


def test_shape_determinism_and_seed():
    a = load_patches(n=2000, size=8, seed=1)
    assert a.shape == (2000, 64) and a.dtype == torch.float32
    assert torch.equal(a, load_patches(n=2000, size=8, seed=1))
    assert not torch.equal(a, load_patches(n=2000, size=8, seed=2))


def test_mean_removal_and_contrast_normalisation():
    x = load_patches(n=3000, size=8, seed=0, contrast_floor=0.01)
    assert x.mean(dim=1).abs().max() < 1e-5
    raw = torch.from_numpy(sample_patches(3000, 8, seed=0))
    raw = raw - raw.mean(dim=1, keepdim=True)
    low = raw.norm(dim=1) < 8 * 0.01  # RMS contrast below the floor
    assert 0.05 < low.float().mean() < 0.4
    # above the floor: unit L2 norm
    torch.testing.assert_close(x[~low].norm(dim=1), torch.ones(int((~low).sum())))
    # below it: divided by size·floor = 0.08, not by the patch's own norm
    torch.testing.assert_close(x[low], raw[low] / 0.08)
    assert x[low].norm(dim=1).max() < 1


def test_without_preprocessing_values_are_pixels():
    x = load_patches(n=500, size=4, seed=0, remove_mean=False, contrast=False)
    assert x.min() >= 0 and x.max() <= 1 and x.mean() > 0.2


def test_zca_gives_identity_covariance_on_the_data_span():
    d = 36
    x = load_patches(n=10000, size=6, seed=0, whiten="zca", zca_eps=1e-6).double()
    cov = x.T @ x / x.shape[0]
    assert x.mean(0).abs().max() < 1e-5
    # patches have zero mean, so the constant direction has no variance to whiten
    projector = torch.eye(d, dtype=torch.float64) - 1.0 / d
    assert (cov - projector).abs().max() < 0.02


def test_zca_fit_whitening_matrix_and_inverse():
    x = load_patches(n=5000, size=4, seed=0, remove_mean=False, contrast=False)
    w = zca_fit(x, eps=1e-8)
    assert torch.allclose(w.matrix, w.matrix.T, atol=1e-5)  # ZCA matrix is symmetric
    y = w.apply(x).double()
    cov = y.T @ y / y.shape[0]
    assert (cov - torch.eye(16, dtype=torch.float64)).abs().max() < 1e-2
    torch.testing.assert_close(w.undo(w.apply(x)), x, atol=1e-3, rtol=0)
    # a larger eps damps low-variance directions: total variance below d
    y_damped = zca_fit(x, eps=1.0).apply(x)
    assert float(y_damped.var(0).sum()) < 0.9 * 16


def test_low_pass_zca_keeps_the_leading_components_in_pixel_space():
    x = load_patches(n=5000, size=6, seed=0, remove_mean=False, contrast=False)
    w = zca_fit(x, eps=1e-8, keep_variance=0.9)
    y = w.apply(x).double()
    assert y.shape == (5000, 36) and torch.allclose(w.matrix, w.matrix.T, atol=1e-5)
    evals = torch.linalg.eigvalsh(y.T @ y / y.shape[0])
    k = int((evals > 0.5).sum())  # the kept components are whitened, the dropped ones are gone
    assert 1 < k < 36 and float(evals[: 36 - k].abs().max()) < 1e-3 and float((evals[-k:] - 1).abs().max()) < 1e-2
    # the kept components hold ~90 % of the variance: undo() gives back that part of x
    centred = x - x.mean(0)
    kept = float((w.undo(w.apply(x)) - x.mean(0)).pow(2).sum() / centred.pow(2).sum())
    assert 0.88 < kept < 0.97
    with pytest.raises(DataError, match="keep_variance"):
        zca_fit(x, keep_variance=0.0)


def test_fast_after_first_load():
    load_patches(n=10, size=8, seed=0)
    start = time.perf_counter()
    load_patches(n=10000, size=8, seed=5)
    assert time.perf_counter() - start < 1.0


def test_user_errors():
    with pytest.raises(DataError, match="whiten must be 'none' or 'zca'"):
        load_patches(n=10, whiten="pca")
    with pytest.raises(DataError, match="larger than an image"):
        load_patches(n=10, size=20, images=[np.zeros((10, 50))])
    with pytest.raises(DataError, match="unknown photograph 'lena'"):
        load_patches(n=10, images=["lena"])
    with pytest.raises(DataError, match="at least 2 rows"):
        zca_fit(torch.zeros(1, 4))
