"""Write an IDX folder whose "test" split is held out of a dataset's training split.

Settings are chosen on held-out training images, never on the test set: this
script writes the first N − H training images as ``train`` and the last H as
``t10k`` into a folder that any command reads with ``--data-dir``. The real
test split is not touched.

Usage::

    python benchmarks/holdout_split.py --data mnist --holdout 10000 --out /tmp/mnist-holdout
    python benchmarks/bench_drsae.py --data mnist --data-dir /tmp/mnist-holdout --models drsae --tag holdout
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data import idx_sets  # noqa: E402
from ebmlab.data.idx import write_idx  # noqa: E402
from ebmlab.errors import DataError  # noqa: E402


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="mnist", choices=sorted(idx_sets.IDX_SETS))
    p.add_argument(
        "--data-dir", default=None, help="folder with the IDX files (default: the usual search, then download)"
    )
    p.add_argument("--holdout", type=int, default=10000, help="training images held out as the new test split")
    p.add_argument("--out", required=True, type=Path, help="folder to write the four IDX files into")
    args = p.parse_args(argv)
    try:
        idx_sets.load_idx_set(args.data, "train", args.data_dir)  # finds or downloads the files, checks them
    except DataError as err:
        p.exit(2, f"error: {err}\n")
    paths, _, _ = idx_sets.find(args.data, "train", args.data_dir)
    images, labels = (idx_sets.read_idx_cached(path) for path in paths)
    if not 0 < args.holdout < len(labels):
        p.error(f"--holdout must be between 1 and {len(labels) - 1}")
    keep = len(labels) - args.holdout
    (train_images, train_labels), (test_images, test_labels) = idx_sets.FILES["train"], idx_sets.FILES["test"]
    args.out.mkdir(parents=True, exist_ok=True)
    write_idx(args.out / train_images, images[:keep])
    write_idx(args.out / train_labels, labels[:keep])
    write_idx(args.out / test_images, images[keep:])
    write_idx(args.out / test_labels, labels[keep:])
    print(f"wrote {args.out}: train = the first {keep} training images of {args.data}, test = the last {args.holdout}")
    return args.out


if __name__ == "__main__":
    main()
