"""Seconds per training epoch of every neural encoder on the full MNIST training set (60,000 images,
batch 100), the time to encode the 70,000 train + test images, and, on a 10,000-image subset, the speed-up
the channels-last memory layout gives the convolutional encoders (same run, ratio).

    python benchmarks/encoder_speed.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import latal.encoders.torch_base as tb
from latal.data import load_dataset
from latal.encoders import make_encoder
from latal.experiment import environment

SPECS = ["dense_vae", "conv_vae", "conv_vae_thesis", "conv_vae_000", "conv_ae"]


def one_epoch(spec: str, x):
    enc = make_encoder(spec, epochs=1, val_fraction=0, progress=False)
    enc.fit(x)
    return enc.history_["epoch_seconds"][0], enc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--specs", nargs="+", default=SPECS)
    ap.add_argument("--ablation-size", type=int, default=10000)
    ap.add_argument("--out", default="benchmarks/results/encoder_speed.json")
    args = ap.parse_args(argv)
    ds = load_dataset(args.dataset, args.data_dir)
    rows = []
    for spec in args.specs:
        tb.CHANNELS_LAST = True
        seconds, enc = one_epoch(spec, ds.x)
        t0 = time.perf_counter()
        enc.encode(ds.x)
        enc.encode(ds.x_test)
        encode_s = time.perf_counter() - t0
        row = {"encoder": spec, "resolved": repr(enc), "epoch_seconds_60k": seconds, "encode_seconds_70k": encode_s}
        if "conv" in spec:
            sub = ds.x[: args.ablation_size]
            tb.CHANNELS_LAST = False
            plain, _ = one_epoch(spec, sub)
            tb.CHANNELS_LAST = True
            fast, _ = one_epoch(spec, sub)
            row.update({"subset_epoch_seconds_channels_last": fast, "subset_epoch_seconds_plain": plain,
                        "channels_last_speedup": plain / fast})
        rows.append(row)
        print(f"  {spec}: {seconds:.1f}s/epoch", file=sys.stderr)

    print("| encoder | s / epoch (60k, batch 100) | encode 70k images (s) | channels-last speed-up (10k subset) |")
    print("|---|---|---|---|")
    for r in rows:
        speed = f"{r['channels_last_speedup']:.2f}x" if "channels_last_speedup" in r else "n/a (dense)"
        print(f"| {r['encoder']} | {r['epoch_seconds_60k']:.1f} | {r['encode_seconds_70k']:.1f} | {speed} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "encoder_speed", "date": date.today().isoformat(), "args": vars(args),
                               "environment": environment(), "rows": rows}, indent=1))
    print(f"# wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
