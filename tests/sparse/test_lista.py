"""Tests of LISTA (Gregor & LeCun, 2010): initialisation as ISTA, training, config, the run."""

import json

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.sparse.lista import LISTA, code_error
from ebmlab.sparse.solvers import fista, ista, soft_threshold
from ebmlab.viz.report import write_report
from sparse_problems import sparse_problem


def problem(N=32, n=16, m=32, seed=0, dtype=torch.float64):
    return sparse_problem(N, n, m, 0.15, seed, dtype)


def test_zero_steps_is_the_initial_shrinkage():
    torch.manual_seed(0)
    model = LISTA(16, 24, steps=0, theta=0.1)
    with torch.no_grad():
        model.theta.uniform_(0.0, 0.3)  # per-unit thresholds
    x = torch.randn(5, 16)
    expected = soft_threshold(x @ model.W_e.T, model.theta)
    assert torch.equal(model(x), expected)
    assert torch.equal(model(x), model(x, steps=0))
    assert (model(x) == 0).any() and (model(x) != 0).any()


@pytest.mark.parametrize("T", [0, 1, 2, 5])
def test_untrained_lista_is_ista(T):
    X, D = problem()
    lam = 0.1
    model = LISTA.from_dictionary(D, lam, steps=T).double()
    with torch.no_grad():
        z = model(X)
    # Z(0) = h_θ(W_e x) is ISTA's first iterate from z = 0; Z(T) its (T + 1)-th
    ref = ista(X, D, lam, max_iter=T + 1, tol=0.0).z
    torch.testing.assert_close(z, ref, rtol=0, atol=1e-9)
    # equivalently: T ISTA iterations started from the initial shrinkage
    z0 = model(X, steps=0).detach()
    torch.testing.assert_close(z, ista(X, D, lam, max_iter=T, tol=0.0, z0=z0).z, rtol=0, atol=1e-9)
    # and not a trivial code
    assert 0 < (z != 0).double().mean() < 1


@pytest.mark.parametrize("T", [0, 1, 3])
def test_untied_lista_starts_as_ista_and_keeps_one_set_per_step(T):
    X, D = problem()
    lam = 0.1
    model = LISTA.from_dictionary(D, lam, steps=T, tied=False).double()
    assert model.W_e.shape == (T + 1, 32, 16) and model.W_d.shape == (T, 16, 32) and model.theta.shape == (T + 1, 32)
    assert not hasattr(model, "S")
    with torch.no_grad():
        torch.testing.assert_close(model(X), ista(X, D, lam, max_iter=T + 1, tol=0.0).z, rtol=0, atol=1e-9)
    if T == 0:
        return
    # step t uses its own W_d,t and θ_t: perturbing the last step changes only the full output
    with torch.no_grad():
        first = model(X, steps=T - 1).clone()
        model.W_d[T - 1].mul_(0.5)
        model.theta[T].mul_(2.0)
        torch.testing.assert_close(model(X, steps=T - 1), first, rtol=0, atol=0)
        tied = LISTA.from_dictionary(D, lam, steps=T).double()
        assert not torch.allclose(model(X), tied(X))
        # LISTA's form h(W_t x + S_t z) with S_t = I − W_t W_d,t
        z = soft_threshold(X @ model.W_e[0].T, model.theta[0])
        for t in range(T):
            S = torch.eye(32, dtype=X.dtype) - model.W_e[t + 1] @ model.W_d[t]
            z = soft_threshold(X @ model.W_e[t + 1].T + z @ S.T, model.theta[t + 1])
        torch.testing.assert_close(model(X), z)
    with pytest.raises(ConfigError, match="untied"):
        model(X, steps=T + 1)


def test_steps_override_and_shape_checks():
    X, D = problem(dtype=torch.float32)
    model = LISTA.from_dictionary(D, 0.1, steps=3)
    assert torch.equal(model(X, steps=3), model(X))
    assert not torch.equal(model(X, steps=1), model(X))
    with pytest.raises(ValueError, match="N×16"):
        model(torch.zeros(4, 15))
    with pytest.raises(ConfigError):
        model(X, steps=-1)
    with pytest.raises(ConfigError):
        LISTA(16, 8, steps=1.5)
    with pytest.raises(ConfigError):
        LISTA.from_dictionary(D, -0.1)


def test_code_error_definition():
    Z_star = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert code_error(torch.zeros(2, 2), Z_star) == 1.0
    assert code_error(Z_star, Z_star) == 0.0
    assert code_error(Z_star * 0.5, Z_star) == pytest.approx(0.25)


def test_training_lowers_the_code_error():
    X, D = problem(N=128, dtype=torch.float32)
    lam = 0.1
    Z_star = fista(X, D, lam, max_iter=1000, tol=1e-8).z
    torch.manual_seed(0)
    model = LISTA.from_dictionary(D, lam, steps=1)
    with torch.no_grad():
        before = code_error(model(X), Z_star)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        loss = 0.5 * (model(X) - Z_star).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = code_error(model(X), Z_star)
    assert after < 0.6 * before, (before, after)
    # the learned encoder beats the ISTA iterations it was initialised with
    assert after < code_error(ista(X, D, lam, max_iter=2, tol=0.0).z, Z_star)


@pytest.mark.parametrize(
    "bad",
    [
        {"lr": 0.0},
        {"lam": -0.1},
        {"steps": ()},
        {"steps": (1, -2)},
        {"steps": (1, 1)},
        {"n_atoms": 0},
        {"batch_size": 500, "n_train": 100},
        {"whiten": "pca"},
        {"data": "mnist"},
        {"solver_iters": (10, 5)},
        {"lr_decay": 0.0},
        {"deep_lr_steps": 0},
    ],
)
def test_bad_config_values_raise_config_error(bad):
    from ebmlab.sparse.train_lista import ListaConfig

    with pytest.raises(ConfigError):
        ListaConfig(**bad)


def test_steps_parse_from_text():
    from ebmlab.runtime.config import config_from_dict
    from ebmlab.sparse.train_lista import ListaConfig

    assert config_from_dict(ListaConfig, {"steps": "1,3"}).steps == (1, 3)
    with pytest.raises(ConfigError):
        config_from_dict(ListaConfig, {"steps": "1,x"})


TINY = dict(
    patch_size=4,
    n_atoms=12,
    lam=0.1,
    steps=(0, 2),
    n_train=200,
    n_test=100,
    dict_steps=20,
    epochs=3,
    batch_size=50,
    solver_iters=(1, 3, 10, 30),
    checkpoint_every=5,
)


def test_train_lista_end_to_end(tmp_path):
    from ebmlab.runtime import Run
    from ebmlab.sparse.train_lista import ListaConfig, train_lista

    cfg = ListaConfig(**TINY)
    run = Run.create("sparse", "lista", cfg, out=tmp_path / "run")
    metrics = train_lista(cfg, run)
    run.finish(metrics)
    write_report(run.dir)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for T in (0, 2):
        assert 0 < saved[f"code_error_T{T}"] < 1
        assert saved[f"fista_iters_to_match_T{T}"] >= 1
    for solver in ("ista", "fista", "cod"):
        assert saved[f"{solver}_code_error_k30"] < saved[f"{solver}_code_error_k1"]
    # more steps predict better; trained LISTA beats ISTA with as many shrinkages
    assert saved["code_error_T2"] < saved["code_error_T0"]
    assert saved["code_error_T2"] < saved["ista_code_error_k3"]
    assert saved["untrained_code_error_T2"] == pytest.approx(saved["ista_code_error_k3"], rel=1e-4)
    for name in ("error_vs_iterations.png", "encoder_filters.png", "lista.safetensors", "report.html"):
        assert (tmp_path / "run" / name).exists()
    # the trained encoder, loaded back, predicts the held-out codes as well as the run measured
    from ebmlab.data import load_patches
    from ebmlab.errors import RunFolderError
    from ebmlab.sparse.solvers import feature_sign
    from ebmlab.sparse.train_lista import load_lista

    encoder, D = load_lista(tmp_path / "run", steps=2)
    assert encoder.steps == 2 and D.shape == (16, 12)
    X_test = load_patches(cfg.n_train + cfg.n_test, size=cfg.patch_size, seed=cfg.seed)[cfg.n_train :]
    Z_test = feature_sign(X_test, D, cfg.lam, max_iter=cfg.target_iter, tol=cfg.target_tol).z
    with torch.no_grad():
        assert code_error(encoder(X_test), Z_test) == pytest.approx(saved["code_error_T2"], rel=1e-4)
    assert load_lista(tmp_path / "run")[0].steps == 2  # the largest T by default
    with pytest.raises(RunFolderError, match="T = 0, 2, not T = 3"):
        load_lista(tmp_path / "run", steps=3)
    weights = tmp_path / "run" / "lista.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(RunFolderError, match="damaged"):
        load_lista(tmp_path / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 * (200 // 50) and "loss_T2" in log[-1]


def test_train_untied_lista_learns_per_step_weights(tmp_path):
    from safetensors.torch import load_file

    from ebmlab.runtime import Run
    from ebmlab.sparse.train_lista import ListaConfig, train_lista

    cfg = ListaConfig(**TINY | {"tied": False})
    run = Run.create("sparse", "lista", cfg, out=tmp_path / "run")
    metrics = train_lista(cfg, run)
    run.finish(metrics)
    assert metrics["code_error_T2"] < metrics["untrained_code_error_T2"]
    weights = load_file(tmp_path / "run" / "lista.safetensors")
    assert weights["T2.W_d"].shape == (2, TINY["patch_size"] ** 2, 12)
    assert not torch.allclose(weights["T2.W_d"][0], weights["T2.W_d"][1])  # the steps learned apart


def test_train_lista_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    from ebmlab.runtime import Run
    from ebmlab.sparse.train_lista import ListaConfig, train_lista

    cfg = ListaConfig(**TINY)
    full = Run.create("sparse", "lista", cfg, out=tmp_path / "full")
    train_lista(cfg, full)
    full.close()

    class Interrupted(Exception):
        pass

    class StopAfterCheckpoint(Run):
        def save_checkpoint(self, step, extra=None, **stateful):
            super().save_checkpoint(step, extra, **stateful)
            if step == 5:
                raise Interrupted

    part = StopAfterCheckpoint.create("sparse", "lista", cfg, out=tmp_path / "part")
    with pytest.raises(Interrupted):
        train_lista(cfg, part)
    part.close()
    resumed = Run.resume(tmp_path / "part", ListaConfig, "sparse", "lista")
    train_lista(resumed.config, resumed)
    resumed.close()
    a = load_file(tmp_path / "full" / "lista.safetensors")
    b = load_file(tmp_path / "part" / "lista.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
