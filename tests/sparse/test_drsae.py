"""Tests of the DrSAE model, its loss terms, unit analysis and training loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from ebmlab.errors import ConfigError, DataError
from ebmlab.sparse.drsae import DrSAE, analyse_units, otsu_threshold


def small_model(n=12, m=8, k=3, T=4, lam=0.1, seed=0):
    torch.manual_seed(seed)
    return DrSAE(n_input=n, n_units=m, n_classes=k, steps=T, lam=lam)


def test_shapes_of_encode_decode_classify():
    model = small_model()
    x = torch.rand(5, 12)
    z = model.encode(x)
    assert z.shape == (5, 8)
    assert model.encode(x, return_all=True).shape == (5, 5, 8)  # T+1 iterates
    assert model.decode(z).shape == (5, 12)
    assert model.classify(z).shape == (5, 3)
    assert model(x).shape == (5, 3)
    images = torch.rand(5, 1, 3, 4)  # N×C×H×W flattened to 12 values
    assert torch.equal(model.encode(images), model.encode(images.reshape(5, 12)))


def test_wrong_input_size_is_a_data_error():
    with pytest.raises(DataError, match="12 values"):
        small_model().encode(torch.rand(5, 13))


def test_bad_constructor_arguments_are_config_errors():
    with pytest.raises(ConfigError):
        DrSAE(n_input=4, n_units=3, steps=-1)
    with pytest.raises(ConfigError):
        DrSAE(n_input=4, n_units=3, lam=-0.1)
    with pytest.raises(DataError, match="4×3"):
        DrSAE(n_input=4, n_units=3, dictionary=torch.randn(3, 4))


def test_t0_gives_zero_code_and_t1_one_rectified_step():
    model = small_model()
    with torch.no_grad():
        model.b.fill_(0.05)
        model.set_input_mean(torch.full((12,), 0.2))
    x = torch.rand(6, 12)
    assert torch.equal(model.encode(x, steps=0), torch.zeros(6, 8))
    expected = torch.relu((x - 0.2) @ model.E.T - model.b)
    torch.testing.assert_close(model.encode(x, steps=1), expected)
    iterates = model.encode(x, return_all=True)
    assert torch.equal(iterates[0], torch.zeros(6, 8))
    # the recursion z(t+1) = max(0, E x + S z(t) − b) written out by hand
    z = torch.zeros(6, 8)
    for t in range(4):
        z = torch.relu((x - 0.2) @ model.E.T + z @ model.S.T - model.b)
        torch.testing.assert_close(iterates[t + 1], z)


def test_initial_encoder_is_nonnegative_ista():
    """E = Dᵀ/L, S = I − DᵀD/L, b = λ/L: T encoder steps = T steps of ISTA (z ≥ 0)."""
    model = small_model(T=6, lam=0.2)
    D = model.D.detach()
    assert torch.allclose(D.norm(dim=0), torch.ones(8), atol=1e-6)
    L = torch.linalg.eigvalsh(D.T @ D)[-1]
    x = torch.rand(4, 12)
    z = torch.zeros(4, 8)
    for _ in range(6):
        grad = (z @ D.T - x) @ D  # ∇ of ½‖x − Dz‖²
        z = torch.relu(z - grad / L - 0.2 / L)
    torch.testing.assert_close(model.encode(x), z, rtol=1e-5, atol=1e-6)


def test_loss_terms_match_a_hand_computation():
    model = small_model(n=3, m=2, k=2, T=1, lam=0.5)
    with torch.no_grad():
        model.E.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        model.S.zero_()
        model.b.copy_(torch.tensor([0.1, 0.2]))
        model.D.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.6], [0.0, 0.8]]))
        model.C.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[1.0, 1.0, 0.0], [0.05, 0.5, 1.0]])
    y = torch.tensor([0, 1])
    t = model.loss(x, y, cls_weight=2.0)
    # z = max(0, x[:2] − b): [0.9, 0.8] and [0, 0.3]
    z = torch.tensor([[0.9, 0.8], [0.0, 0.3]])
    xhat = torch.tensor([[0.9, 0.48, 0.64], [0.0, 0.18, 0.24]])
    rec = 0.5 * (((x - xhat) ** 2).sum(1)).mean()
    spars = 0.5 * z.sum(1).mean()
    u = z / z.norm(dim=1, keepdim=True)  # [0.9, 0.8]/1.2042, [0, 1]
    logits = torch.stack([2 * u[:, 0], u[:, 1]], 1)
    cls = -(logits.log_softmax(1)[torch.arange(2), y]).mean()
    assert math.isclose(t.reconstruction.item(), rec.item(), rel_tol=1e-6)
    assert math.isclose(t.sparsity.item(), spars.item(), rel_tol=1e-6)
    assert math.isclose(t.classification.item(), cls.item(), rel_tol=1e-6)
    assert math.isclose(t.total.item(), (rec + spars + 2.0 * cls).item(), rel_tol=1e-6)
    # the same numbers written out: sample 2's code is (0, 0.3), logits (0, 1)
    assert math.isclose(
        F.cross_entropy(torch.tensor([[0.0, 1.0]]), torch.tensor([1])).item(), math.log(1 + math.exp(-1)), rel_tol=1e-6
    )


def test_unsupervised_loss_ignores_the_classifier():
    model = small_model()
    x, y = torch.rand(5, 12), torch.randint(0, 3, (5,))
    t = model.loss(x)
    assert t.classification.item() == 0.0
    torch.testing.assert_close(t.total, t.reconstruction + t.sparsity)
    # with labels and weight 0 the classifier takes part but gets a zero gradient
    t0 = model.loss(x, y, cls_weight=0.0)
    torch.testing.assert_close(t0.total, t.total)
    t0.total.backward()
    assert model.C.grad is not None and torch.count_nonzero(model.C.grad) == 0
    assert torch.count_nonzero(model.E.grad) > 0


def test_input_dropout_corrupts_the_encoder_input_not_the_target():
    model = small_model(n=40, m=16)
    model.set_input_mean(torch.full((40,), 0.3))
    x = torch.rand(6, 40)
    torch.manual_seed(1)
    noisy = model.loss(x, input_dropout=0.5)
    torch.manual_seed(1)
    mask = F.dropout(torch.ones(6, 40), 0.5)  # the same draw: kept pixels scaled by 2, dropped ones 0
    x_in = model.input_mean + (x - model.input_mean) * mask
    z = model.encode(x_in)
    rec = 0.5 * (x - model.decode(z)).pow(2).sum(1).mean()  # the clean x is the target
    torch.testing.assert_close(noisy.reconstruction, rec)
    assert not torch.allclose(noisy.reconstruction, model.loss(x).reconstruction)
    torch.testing.assert_close(model.loss(x, input_dropout=0.0).total, model.loss(x).total)


def test_zero_code_gives_zero_logits():
    model = small_model()
    with torch.no_grad():
        model.C.normal_()
    logits = model.classify(torch.zeros(2, 8))
    assert torch.equal(logits, torch.zeros(2, 3))


def test_decoder_columns_have_unit_norm_after_a_step():
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.rand(16, 12) * 3, torch.randint(0, 3, (16,))
    model.loss(x, y).total.backward()
    opt.step()
    assert not torch.allclose(model.D.norm(dim=0), torch.ones(8), atol=1e-4)  # the step moved them
    model.normalise_decoder_()
    torch.testing.assert_close(model.D.norm(dim=0), torch.ones(8))


def test_otsu_threshold_splits_two_modes():
    values = torch.cat([torch.full((30,), 0.1), torch.full((10,), 0.9)]) + 0.01 * torch.randn(40)
    thr = otsu_threshold(values)
    assert 0.15 < thr < 0.85
    assert int((values > thr).sum()) == 10


def constructed_model():
    """4 part units (S_ii = 0, encoder row = decoder column) and 2 categorical
    units (S_ii = 0.8, weak input drive, decoder column unlike the encoder row)."""
    n, m = 6, 6
    model = DrSAE(n_input=n, n_units=m, n_classes=2, steps=8, lam=0.0)
    with torch.no_grad():
        model.D.copy_(torch.eye(n))
        model.S.zero_()
        model.E.copy_(torch.eye(n))
        model.b.zero_()
        for i in (4, 5):
            model.S[i, i] = 0.8
            model.E[i] = 0.0
            model.E[i, i - 4] = 0.2  # driven by pixel 0 or 1, reconstructs pixel 4 or 5
        model.C.copy_(torch.tensor([[0, 0, 0, 0, 3.0, 0], [0, 0, 0, 0, 0, 3.0]]))
    return model


def test_unit_analysis_finds_the_constructed_split():
    model = constructed_model()
    x = torch.zeros(40, 6)
    y = torch.arange(40) % 2
    x[y == 0, 0] = 1.0  # class 0 lights pixel 0 -> categorical unit 4
    x[y == 1, 1] = 1.0  # class 1 lights pixel 1 -> categorical unit 5
    x[:, 2] = torch.rand(40)  # part units 2, 3 see noise shared by both classes
    x[:, 3] = torch.rand(40)
    a = analyse_units(model, x, y)
    assert a.categorical.tolist() == [False, False, False, False, True, True]
    assert a.part.tolist() == [True, True, True, True, False, False]
    torch.testing.assert_close(a.self_connection, torch.tensor([0, 0, 0, 0, 0.8, 0.8]))
    torch.testing.assert_close(a.enc_dec_cosine[:4], torch.ones(4))
    torch.testing.assert_close(a.enc_dec_cosine[4:], torch.zeros(2))
    # categorical activity builds up: z(T) = z(1)·(1 + 0.8 + ... + 0.8^7) = z(1)·r
    r = (1 - 0.8**8) / (1 - 0.8)
    torch.testing.assert_close(a.buildup[4:], torch.full((2,), (r - 1) / (r + 1)))
    torch.testing.assert_close(a.buildup[:4], torch.zeros(4))  # part units: no build-up
    assert a.mean_activation.shape == (9, 6)
    assert a.preferred_class[4:].tolist() == [0, 1]
    torch.testing.assert_close(a.selectivity[4:], torch.ones(2))
    assert a.active.all()
    torch.testing.assert_close(a.active_fraction, torch.tensor([0.5, 0.5, 1, 1, 0.5, 0.5]))
    s = a.summary()
    assert s["n_categorical_units"] == 2 and s["n_part_units"] == 4
    assert s["categorical_mean_self_connection"] == pytest.approx(0.8)
    assert s["categorical_mean_buildup"] > 0.5 and s["part_mean_buildup"] == pytest.approx(0.0)
    # an explicit threshold overrides Otsu's
    assert analyse_units(model, threshold=0.9).categorical.sum() == 0
    # a unit no sample uses is inactive: neither kind, and left out of the split
    x[:, 3] = 0.0
    b = analyse_units(model, x, y)
    assert b.active.tolist() == [True, True, True, False, True, True]
    assert b.part.tolist() == [True, True, True, False, False, False]
    assert b.summary()["n_inactive_units"] == 1


# ---------------------------------------------------------------- config and training loop
from ebmlab.runtime import Run  # noqa: E402
from ebmlab.sparse.train_drsae import DrsaeConfig, train_drsae  # noqa: E402
from ebmlab.viz.report import write_report  # noqa: E402


def tiny_config(**kw):
    base = dict(
        data="digits",
        units=16,
        steps=3,
        lam=0.1,
        unsup_epochs=1,
        sup_epochs=2,
        batch_size=100,
        lr=3e-3,
        device="cpu",
        checkpoint_every=10,
        log_every=5,
    )
    base.update(kw)
    return DrsaeConfig(**base)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(units=0), "--units"),
        (dict(steps=0), "--steps"),
        (dict(lam=-1.0), "--lam"),
        (dict(sup_epochs=0), "--sup-epochs"),
        (dict(lr=0.0), "--lr"),
        (dict(optimizer="rmsprop"), "--optimizer"),
        (dict(lr_decay="step"), "--lr-decay"),
        (dict(data="cifar"), "--data"),
        (dict(checkpoint_every=0), "--checkpoint-every"),
        (dict(weight_decay=-1e-4), "--weight-decay"),
        (dict(input_dropout=1.0), "--input-dropout"),
    ],
)
def test_config_validation_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        DrsaeConfig(**kw)


def test_defaults_follow_the_paper():
    cfg = DrsaeConfig()
    assert (cfg.units, cfg.steps, cfg.data) == (400, 11, "mnist5k")


def test_tiny_end_to_end_training(tmp_path):
    cfg = tiny_config()
    run = Run.create("sparse", "drsae", cfg, out=tmp_path / "run")
    metrics = train_drsae(cfg, run)
    run.finish(metrics)
    write_report(run.dir)
    assert 0.5 < metrics["test_accuracy"] <= 1.0  # 10 classes: chance is 0.1
    assert metrics["n_part_units"] + metrics["n_categorical_units"] == 16
    for key in ("train_accuracy", "test_reconstruction", "test_sparsity", "test_classification"):
        assert key in metrics
    for name in (
        "units_decoder.png",
        "units_measure.png",
        "units_activity.png",
        "drsae.safetensors",
        "metrics.json",
        "report.html",
    ):
        assert (tmp_path / "run" / name).exists(), name
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "run" / "drsae.safetensors")
    torch.testing.assert_close(weights["D"].norm(dim=0), torch.ones(16))
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any('"classification"' in line for line in lines)


class _StopsEarly(Run):
    """A real run whose loop is cut after ``stop`` steps (as if the process were killed)."""

    stop = 20

    def progress(self, iterable, total=None, desc=None, initial=0):
        return [step for step in iterable if step < self.stop]


def test_resume_gives_the_same_weights(tmp_path):
    cfg = tiny_config(checkpoint_every=10)  # digits: 14 steps per epoch, 42 in all
    full = Run.create("sparse", "drsae", cfg, out=tmp_path / "full")
    train_drsae(cfg, full)
    cut = _StopsEarly.create("sparse", "drsae", cfg, out=tmp_path / "cut")
    train_drsae(cfg, cut)  # stops after step 20 (a checkpoint), mid-way through the supervised phase
    from safetensors.torch import load_file

    partial = load_file(tmp_path / "cut" / "drsae.safetensors")
    assert not torch.equal(partial["S"], load_file(tmp_path / "full" / "drsae.safetensors")["S"])
    resumed = Run.resume(tmp_path / "cut", DrsaeConfig, "sparse", "drsae")
    train_drsae(resumed.config, resumed)
    import json

    def logged_steps(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["step"] for line in lines if '"loss"' in line]

    assert logged_steps("cut") == logged_steps("full")  # continued from step 20, no step twice

    a = load_file(tmp_path / "full" / "drsae.safetensors")
    b = load_file(tmp_path / "cut" / "drsae.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key
