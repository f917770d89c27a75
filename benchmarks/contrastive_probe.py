"""Would a contrastive encoder carry the labels better than the UMAP-refined VAE latents? (issue 9)

Trains a small SimCLR network (three conv blocks with batch norm, global pooling, a 128-d representation,
a 64-d projection head; NT-Xent loss, temperature 0.2, batches of 256 pairs) on the pool's images with
random crops (60-100 % of the side), rotations up to 15 degrees, shifts, contrast and brightness changes,
and left-right mirrors (``--flip``, for clothing), for ``--epochs`` epochs on one core. Then, for the
representation after the last epoch against the cached UMAP refinement of the ``conv_vae`` latents:

- purity: the share of each pool item's 10 nearest neighbours (cosine) that carry its class;
- the 10-NN vote accuracy on the test set with every pool label (an upper bound for a graph learner);
- the accuracy on the pool of Poisson learning and label spreading from b labels chosen by TypiClust
  (in either space), each learner run over either space's 10-NN graph.

It is a probe, not a library encoder: on Fashion-MNIST after 15 epochs (33 minutes of one core) the graph
learners do worse over its representation than over the UMAP latents (BENCHMARKS.md).

    python benchmarks/contrastive_probe.py --data-dir ../shared/datasets --dataset fashion-mnist --epochs 15 --flip
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.experiment import ExperimentConfig, prepare  # noqa: E402
from latal.learners import make_learner  # noqa: E402
from latal.pool import Pool  # noqa: E402
from latal.strategies import STRATEGIES  # noqa: E402
from latal.strategies.base import QueryContext  # noqa: E402
from latal.strategies.distances import unit_rows  # noqa: E402


def neighbour_scores(feats, test_feats, y, y_test, k=10) -> dict:
    from sklearn.neighbors import NearestNeighbors

    feats, test_feats = unit_rows(feats), unit_rows(test_feats)
    index = NearestNeighbors(n_neighbors=k + 1).fit(feats)
    near = index.kneighbors(feats, return_distance=False)[:, 1:]
    vote = np.array([np.bincount(r, minlength=int(y.max()) + 1).argmax()
                     for r in y[index.kneighbors(test_feats, n_neighbors=k, return_distance=False)]])
    return {"purity10": float((y[near] == y[:, None]).mean()), "knn_test": float((vote == y_test).mean())}


def simclr(X, epochs: int, tau: float, flip: bool, log):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self, w=32):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                nn.Flatten())
            self.head = nn.Sequential(nn.Linear(4 * w, 4 * w), nn.ReLU(), nn.Linear(4 * w, 64))

        def forward(self, x):
            return self.body(x)

    g = torch.Generator().manual_seed(0)

    def aug(x):
        n = x.shape[0]
        ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(15)
        side = 0.6 + 0.4 * torch.rand(n, generator=g)  # crop side 60-100 %
        fl = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
        t = ((torch.rand(n, 2, generator=g) * 2 - 1) * (1 - side)[:, None] * 0.9
             + (torch.rand(n, 2, generator=g) * 2 - 1) * 0.1)
        cos, sin = torch.cos(ang) * side, torch.sin(ang) * side
        theta = torch.stack([torch.stack([cos * fl, -sin, t[:, 0]], 1), torch.stack([sin * fl, cos, t[:, 1]], 1)], 1)
        out = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
        c = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
        b = (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.4
        return (out * c + b).clamp(0, 1)

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-6)
    bs, n = 256, X.shape[0]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * (n // bs), pct_start=0.05)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm, total = torch.randperm(n, generator=g), 0.0
        for i in range(n // bs):
            xb = X[perm[i * bs : (i + 1) * bs]]
            z = F.normalize(net.head(net(torch.cat([aug(xb), aug(xb)]))), dim=1)
            sim = z @ z.T / tau
            sim.fill_diagonal_(-1e9)
            loss = F.cross_entropy(sim, torch.cat([torch.arange(bs, 2 * bs), torch.arange(0, bs)]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log({"epoch": epoch + 1, "loss": total / (n // bs), "seconds": time.perf_counter() - t0})
    net.eval()

    def features(Xs):
        with torch.no_grad():
            return torch.cat([net(Xs[i : i + 2048]) for i in range(0, Xs.shape[0], 2048)]).numpy()

    return features, time.perf_counter() - t0


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--budgets", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or f"benchmarks/results/contrastive_probe_{args.dataset}.json"
    prep = prepare(ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, encoder="conv_vae", refine="umap"))
    ds = prep.dataset
    X = torch.from_numpy(ds.x.astype(np.float32)[:, None] / 255.0)
    Xt = torch.from_numpy(ds.x_test.astype(np.float32)[:, None] / 255.0)
    epochs_log = []
    features, seconds = simclr(X, args.epochs, args.temperature, args.flip,
                               lambda r: (epochs_log.append(r), print(r, file=sys.stderr, flush=True)))
    spaces = {"umap": (prep.latent.mean, prep.test_latent.mean), "simclr": (features(X), features(Xt))}
    scores = {name: neighbour_scores(f, ft, ds.y, ds.y_test) for name, (f, ft) in spaces.items()}
    # the pool rows that selection and the graphs see: UMAP as it is, the SimCLR representation on the sphere
    rows = {"umap": spaces["umap"][0], "simclr": unit_rows(spaces["simclr"][0])}
    graphs = []
    for b in args.budgets:
        for select_in, sel in rows.items():
            pool = Pool(sel, ds.class_names, None)
            ctx = QueryContext(pool=pool.view(), learner=None, encoder=None, inputs=None, cache={})
            idx = STRATEGIES.build("typiclust").select(ctx, b, np.random.default_rng(0))
            for learner in ("poisson", "label_spreading"):
                for over, feats in rows.items():
                    gp = Pool(feats, ds.class_names, None)
                    gp.add_labels(idx, ds.y[idx])
                    Z, yl = gp.labeled_data()
                    P = make_learner(learner).fit(Z, yl, len(ds.class_names), pool=gp.view()).transductive_proba()
                    graphs.append({"budget": b, "selected_in": select_in, "learner": learner, "graph_over": over,
                                   "pool_accuracy": float((P.argmax(1) == ds.y).mean())})
    write_json(out, "contrastive_probe", args, train_seconds=seconds, epochs=epochs_log, neighbours=scores,
               graphs=graphs)
    print(markdown_table(["space", "10-NN purity %", "10-NN vote, test %"],
                         [[k, f"{100 * v['purity10']:.2f}", f"{100 * v['knn_test']:.2f}"] for k, v in scores.items()]))
    print()
    print(markdown_table(["labels", "TypiClust in", "learner", "graph over", "pool accuracy %"],
                         [[r["budget"], r["selected_in"], r["learner"], r["graph_over"], f"{100 * r['pool_accuracy']:.2f}"]
                          for r in graphs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
