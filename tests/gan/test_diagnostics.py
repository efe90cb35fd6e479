"""The pitfall detectors flag what they should and leave healthy signals alone."""

import numpy as np

from ebmlab.gan.diagnostics import Diagnostics, oscillation_score, vanishing_ratio


def test_oscillation_flags_a_periodic_swing_but_not_noise_or_a_trend():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    assert oscillation_score(np.sin(2 * np.pi * t / 16) + 0.1 * rng.standard_normal(200)) < -0.5
    assert oscillation_score(rng.standard_normal(200)) > -0.5
    assert oscillation_score(np.exp(-t / 30) + 0.01 * rng.standard_normal(200)) > -0.5
    assert oscillation_score([1.0] * 10) == 0.0  # too short to judge


def test_vanishing_ratio():
    assert vanishing_ratio(list(np.linspace(1, 0.5, 50))) > 0.4
    assert vanishing_ratio([1.0] * 20 + [1e-4] * 30) < 0.01


def test_diagnostics_warn_once_per_pitfall_and_survive_a_checkpoint():
    d = Diagnostics()
    for i in range(120):
        d.record(np.sin(2 * np.pi * i / 10), 1.0 if i < 40 else 1e-5)
    d.record_modes(captured=5, n_modes=8, reverse_kl=0.4)
    messages = []
    assert sorted(d.warn(120, messages.append)) == ["mode_collapse", "oscillation", "vanishing_gradient"]
    assert len(messages) == 3 and all("warning at step 120" in m for m in messages)
    assert d.warn(130, messages.append) == [] and len(messages) == 3
    e = Diagnostics()
    e.load_state_dict(d.state_dict())
    assert e.summary() == d.summary() and e.warned == d.warned


def test_a_healthy_signal_is_not_flagged():
    rng = np.random.default_rng(1)
    d = Diagnostics()
    for i in range(120):
        d.record(0.5 + 0.05 * rng.standard_normal(), 1.0 + 0.1 * rng.standard_normal())
    d.record_modes(captured=8, n_modes=8, reverse_kl=0.01)
    s = d.summary()
    assert s["warn_oscillation"] == s["warn_vanishing_gradient"] == s["warn_mode_collapse"] == 0
    assert d.warn(120, lambda m: None) == []
