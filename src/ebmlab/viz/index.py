"""index.html: a gallery of several runs — for each, its key figure, its headline number with what it measures,
the paper's (or ebmlab's measured) anchor beside it, what its diagnostics warn of and the cure, and its report
one click away.

What a run's card shows is looked up by the run's (family, name) in ``CARDS``; a run without a card shows its
first figure and first metrics.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ebmlab.runtime.atomic import atomic_write_text
from ebmlab.runtime.run import read_run_info

__all__ = ["write_index", "Card", "CARDS", "CURES", "Pair"]

Metrics = dict[str, float]


@dataclass(frozen=True)
class Card:
    """What a run's gallery card shows: its ``title``, the first of ``figures`` the run wrote, the ``headline``
    made from its metrics, one line on ``what`` the number measures, and the ``anchor`` to compare it with."""

    title: str
    figures: tuple[str, ...]
    headline: Callable[[Metrics], str]
    what: str
    anchor: str = ""


@dataclass(frozen=True)
class Pair:
    """Two runs on one wide card, side by side: a ``pitfall`` and its ``cure`` (run folder names), with
    ``explain``, made from their metrics, saying what differs and why."""

    title: str
    pitfall: str
    cure: str
    explain: Callable[[Metrics, Metrics], str]


def _lista(m: Metrics) -> str:
    T = max(int(k.removeprefix("code_error_T")) for k in m if k.startswith("code_error_T"))
    matched = m.get(f"fista_iters_to_match_T{T}")
    return f"{T} LISTA steps ≈ {matched} FISTA iterations (code error {m[f'code_error_T{T}']:.3f})"


CARDS: dict[tuple[str, str], Card] = {
    ("sparse", "dict"): Card(
        "Dictionary learning",
        ("atoms.png",),
        lambda m: (
            f"{m['relative_reconstruction_error']:.1%} reconstruction error, {m['nonzero_fraction']:.1%} of atoms active"
        ),
        "how well sparse codes over the learnt atoms rebuild held-out photograph patches",
        "Olshausen & Field (1996): localised, oriented, edge-like atoms",
    ),
    ("sparse", "lista"): Card(
        "LISTA: amortised inference",
        ("error_vs_iterations.png",),
        _lista,
        "how many FISTA iterations it takes to match T steps of the trained encoder",
        "Gregor & LeCun (2010): a few steps match many times more iterations; ebmlab: 40 / 55 / 64 for T = 1 / 3 / 5 (m = 400)",
    ),
    ("sparse", "drsae"): Card(
        "DrSAE: discriminative recurrent sparse auto-encoder",
        ("units_decoder.png",),
        lambda m: (
            f"{m['test_error']:.2%} test error; {m['n_categorical_units']:g} categorical, {m['n_part_units']:g} part units"
        ),
        "classification error on held-out digits, and the units that specialised",
        "Rolfe & LeCun (2013): 1.08 % on full MNIST; ebmlab 1.11 % (3 seeds)",
    ),
    ("sparse", "topo"): Card(
        "A topographic map",
        ("orientation_map.png", "filters.png"),
        lambda m: (
            f"{m['n_pinwheels']:g} pinwheels; neighbours {m['neighbour_orientation_difference_deg']:.0f}° apart "
            f"(shuffled: {m['shuffled_orientation_difference_deg']:.0f}°)"
        ),
        "whether a filter's orientation changes smoothly across the map, turning around pinwheels",
        "Kavukcuoglu et al. (2009): group sparsity over overlapping pools orders filters as in V1",
    ),
    ("gan", "train", "mixture"): Card(
        "GAN as an energy-based model, on a mixture of Gaussians",
        ("samples.png",),
        lambda m: f"{m['modes_captured']:g} modes kept, {m['high_quality']:.1%} of samples near a mode",
        "how many of the mixture's modes the samples cover, and how many samples fall inside one",
        "ring of 8: PacGAN4 7.8 modes, 95.9 %; ebmlab's recipe (logistic + R1 + latent descent) 8, 98.7 %",
    ),
    ("gan", "train"): Card(
        "GAN as an energy-based model, on images",
        ("samples.png",),
        lambda m: f"FD {m['fd']:.1f}, precision {m['precision']:.2f}, recall {m['recall']:.2f}",
        "distances between samples and data in a trained classifier's features (FD: lower is better)",
        "Fashion-MNIST, DCGAN with the logistic loss: FD 22.1 (ebmlab, 5 seeds)",
    ),
    ("vae", "train"): Card(
        "VAE, for comparison",
        ("samples.png",),
        lambda m: f"FD {m['fd']:.1f}, precision {m['precision']:.2f}, recall {m['recall']:.2f}",
        "its samples in the same features as the GAN's",
        "the GAN on the same data and time budget: see the comparison",
    ),
    ("world", "train"): Card(
        "World model: planning through a learnt model",
        ("learning_curve.png",),
        lambda m: f"return {m['eval_return']:.0f} after {m['env_steps']:g} environment steps",
        "the episode return of gradient MPC through a forward model learnt from its own steps",
        "ebmlab (3 seeds): −200 within 400 steps; SAC needs 2,750–3,750 (docs/RESULTS.md)",
    ),
    ("world", "baseline"): Card(
        "Model-free baseline (stable-baselines3)",
        ("learning_curve.png",),
        lambda m: f"return {m['eval_return']:.0f} after {m['env_steps']:g} environment steps",
        "the episode return of the model-free agent on the same environment",
        "ebmlab (3 seeds): SAC with the rl-zoo settings reaches −200 after 2,750–3,750 steps",
    ),
    ("world", "record"): Card(
        "Dense highway traffic",
        ("time_space.png", "episode_recorded.gif"),
        lambda m: (
            f"{m['density_veh_per_km_lane']:.0f} veh/km/lane, {m['mean_speed_mps'] * 3.6:.0f} km/h, "
            f"{m['stop_and_go_share']:.0%} of car-time in stop-and-go"
        ),
        "how dense and how unsteady the recorded traffic is (stop-and-go waves run upstream in the figure)",
        "NGSIM I-80 (PPUU's data): the congested afternoon peak",
    ),
}

# what each diagnostic warning means, and what cures it (measured in docs/RESULTS.md)
CURES = {
    "warn_mode_collapse": (
        "mode collapse: the generator covers too few of the data's modes",
        "on the mixtures, the R1 penalty on the critic and descent on the latent energy "
        "(<code>--loss logistic --r1 0.5 --refine descent</code> keeps 8 of 8 modes in every seed); "
        "on images, a longer run (docs/RESULTS.md)",
    ),
    "warn_vanishing_gradient": (
        "vanishing gradient: the generator's gradient fell to a small share of its start",
        "the non-saturating loss −log D(G(z)) (the default) instead of <code>--saturating</code>",
    ),
    "warn_oscillation": (
        "oscillation: the losses swing instead of settling",
        "a smaller learning rate, or the R1 penalty (<code>--r1</code>)",
    ),
}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1.2em}
.card{border:1px solid #ddd;border-radius:8px;padding:1em;background:#fff}
.card img{width:100%;height:220px;object-fit:contain;background:#f6f6f6;border-radius:4px}
.card h2{font-size:1.1em;margin:.6em 0 .3em}.headline{font-size:1.25em;font-weight:600;margin:.3em 0}
.what,.anchor,.folder{color:#555;font-size:.9em;margin:.3em 0}.anchor{color:#1a5d1a}
.pair{grid-column:1/-1}.halves{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.label{font-weight:600;margin:.2em 0}.explain{font-size:.95em;line-height:1.45}
.warning{background:#fff4e5;border-left:4px solid #e69500;padding:.4em .6em;font-size:.9em;margin:.5em 0}
"""
# the page marks how many of its figures the browser could draw (a headless browser's test reads it)
_SCRIPT = """
window.addEventListener('load',()=>{const imgs=[...document.images];
document.body.dataset.imagesDrawn=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;
document.body.dataset.images=imgs.length;});
"""


def _figure(run_dir: Path, card: Card | None) -> Path | None:
    names = card.figures if card else ()
    for name in names:
        if (run_dir / name).exists():
            return run_dir / name
    pngs = sorted(run_dir.glob("*.png"))
    return pngs[0] if pngs else None


def _metrics(run_dir: Path) -> Metrics:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _card(family: str, name: str, metrics: Metrics) -> Card | None:
    return CARDS.get((family, name, "mixture") if "modes_captured" in metrics else (family, name))


def _headline(card: Card | None, metrics: Metrics) -> str:
    try:
        headline = card.headline(metrics) if card else ""
    except (KeyError, ValueError, TypeError):  # an older or partial run: show its numbers as they are
        headline = ""
    return headline or ", ".join(
        f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in list(metrics.items())[:3]
    )


def _image(folder: Path, run_dir: Path, card: Card | None) -> str:
    report = html.escape(str((run_dir / "report.html").relative_to(folder)))
    figure = _figure(run_dir, card)
    return (
        f"<a href='{report}'><img src='{html.escape(str(figure.relative_to(folder)))}' alt='{html.escape(figure.stem)}'></a>"
        if figure
        else ""
    )


def _warnings(metrics: Metrics) -> str:
    return "".join(
        f"<p class='warning'><b>{meaning}</b>. Cure: {cure}.</p>"
        for key, (meaning, cure) in CURES.items()
        if metrics.get(key)
    )


def _pair_html(folder: Path, pair: Pair) -> str:
    halves, metrics = [], []
    for label, run in (("pitfall", pair.pitfall), ("cure", pair.cure)):
        run_dir = folder / run
        info, m = read_run_info(run_dir), _metrics(run_dir)
        metrics.append(m)
        card = _card(info["family"], info["name"], m)
        halves.append(
            f"<div class='half' data-run='{html.escape(run)}'><p class='label'>{label}: "
            f"<a href='{html.escape(run)}/report.html'><code>{html.escape(run)}</code></a></p>"
            f"{_image(folder, run_dir, card)}<p class='headline'>{html.escape(_headline(card, m))}</p>"
            f"{_warnings(m)}</div>"
        )
    return (
        f"<div class='card pair'><h2>{html.escape(pair.title)}</h2>"
        f"<div class='halves'>{''.join(halves)}</div><p class='explain'>{pair.explain(*metrics)}</p></div>"
    )


def _card_html(folder: Path, run_dir: Path) -> str:
    info = read_run_info(run_dir)
    family, name = info["family"], info["name"]
    metrics = _metrics(run_dir)
    card = _card(family, name, metrics)
    headline = _headline(card, metrics)
    report = html.escape(str((run_dir / "report.html").relative_to(folder)))
    image = _image(folder, run_dir, card)
    warnings = _warnings(metrics)
    title = card.title if card else f"ebmlab {family} {name}"
    parts = [
        f"<div class='card' data-run='{html.escape(run_dir.name)}'>{image}",
        f"<h2><a href='{report}'>{html.escape(title)}</a></h2>",
        f"<p class='headline'>{html.escape(headline)}</p>",
        f"<p class='what'>{html.escape(card.what)}</p>" if card else "",
        f"<p class='anchor'>{html.escape(card.anchor)}</p>" if card and card.anchor else "",
        warnings,
        f"<p class='folder'><code>ebmlab {html.escape(family)} {html.escape(name)}</code> · {html.escape(run_dir.name)}</p></div>",
    ]
    return "".join(parts)


def write_index(
    folder: str | Path,
    run_dirs: list[Path],
    title: str = "ebmlab runs",
    extra: dict[str, str] | None = None,
    pairs: tuple[Pair, ...] = (),
) -> Path:
    """Write ``folder/index.html``: a card per run (see the module doc) — the two runs of a :class:`Pair` share one
    wide card, where its pitfall's would be —, then a card per ``extra`` page (text -> path relative to
    ``folder``; its folder's first figure as the thumbnail)."""
    folder = Path(folder)
    first = {pair.pitfall: pair for pair in pairs}
    second = {pair.cure for pair in pairs}
    cards = [
        _pair_html(folder, first[d.name]) if d.name in first else _card_html(folder, d)
        for d in run_dirs
        if d.name not in second
    ]
    for text, target in (extra or {}).items():
        pngs = sorted((folder / target).parent.glob("*.png"))
        image = (
            f"<a href='{html.escape(target)}'><img src='{html.escape(str(pngs[-1].relative_to(folder)))}' alt='{html.escape(text)}'></a>"
            if pngs
            else ""
        )
        cards.append(
            f"<div class='card'>{image}<h2><a href='{html.escape(target)}'>{html.escape(text)}</a></h2>"
            "<p class='what'>the runs above side by side: one table, one figure</p></div>"
        )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Each card: the run's key figure, its headline number and what it "
        "measures, the published (or ebmlab's measured) number to compare it with, and any warning with its cure. "
        "Click a figure or a title for the full report.</p>"
        f"<div class='cards'>{''.join(cards)}</div></body></html>"
    )
    return atomic_write_text(folder / "index.html", page)
