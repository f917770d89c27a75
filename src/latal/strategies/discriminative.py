"""Discriminative Active Learning, paper 004 (Gissin & Shalev-Shwartz, 2019; Algorithm 1, section 4):
query what a labeled-vs-unlabeled classifier is surest comes from the unlabeled pool."""

from __future__ import annotations

import numpy as np

from latal._validation import int_tuple
from latal.strategies.base import QueryContext, Strategy


def train_discriminator(Z: np.ndarray, is_unlabeled: np.ndarray, *, hidden=(256, 256, 256), lr: float = 3e-4,
                        batch_size: int = 1024, max_epochs: int = 200, stop_accuracy: float = 0.98,
                        seed: int = 0, device: str = "auto"):
    """An MLP (three hidden layers of 256, ReLU) trained on labeled (0) vs unlabeled (1) with class weights
    balancing the two, stopped as soon as its training accuracy reaches ``stop_accuracy`` (98 %): the
    point is to separate the sets but not perfectly, so that unlabeled items much like labeled ones
    keep a low score. Returns a function giving P(unlabeled) for latents."""
    import torch
    import torch.nn as nn

    from latal._torch import batched_apply, make_optimizer, resolve_device, seeded
    from latal.learners.mlp import _build_mlp, _tensor

    dev = resolve_device(device)
    y = is_unlabeled.astype(np.int64)
    n = y.shape[0]
    counts = np.bincount(y, minlength=2).astype(np.float64)
    weights = torch.tensor(n / np.maximum(counts, 1.0), dtype=torch.float32, device=dev)  # as the paper's code
    with seeded(seed, dev):
        model = _build_mlp(Z.shape[1], hidden, 0.0, 2).to(dev)
        opt = make_optimizer("adam", model.parameters(), lr)
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        X = _tensor(Z).to(dev)
        T = torch.from_numpy(y).to(dev)
        for _ in range(int(max_epochs)):
            model.train()
            order = torch.randperm(n, device=dev)
            correct = 0
            for start in range(0, n, int(batch_size)):
                idx = order[start : start + int(batch_size)]
                opt.zero_grad(set_to_none=True)
                logits = model(X[idx])
                loss = loss_fn(logits, T[idx])
                loss.backward()
                opt.step()
                correct += int((logits.argmax(1) == T[idx]).sum())
            if correct / n >= stop_accuracy:  # Keras reports the running accuracy of the epoch
                break
    model.eval()

    def p_unlabeled(Zq: np.ndarray) -> np.ndarray:
        return batched_apply(lambda x: model(x).softmax(1)[:, 1], Zq, 8192, dev)[0].astype(np.float64)

    return p_unlabeled


class DiscriminativeAL(Strategy):
    """Discriminative Active Learning (paper 004).

    The query of size k is split into ``n_mini_queries`` mini-queries: train the discriminator on
    labeled vs unlabeled latents, move the k / n items with the highest P(unlabeled) to the labeled side
    (for the discriminator only: no one labels them yet), retrain, repeat.

    Parameters
    ----------
    n_mini_queries : int, default 10 (the paper found 10-20 to work well)
    unlabeled_ratio : float or None, default 10
        As the paper's code, the discriminator sees at most ``unlabeled_ratio`` x |L| unlabeled items
        (a random subsample, drawn once per query); None uses the whole pool.
    stop_accuracy : float, default 0.98
    hidden : tuple, default (256, 256, 256)
    lr, batch_size, max_epochs : Adam 3e-4, 1024, 200 (the paper's code for 28x28 inputs)
    """

    description = "paper 004: labeled-vs-unlabeled MLP discriminator, 10 mini-queries, argmax P(unlabeled)"

    def __init__(self, n_mini_queries: int = 10, unlabeled_ratio: float | None = 10.0, stop_accuracy: float = 0.98,
                 hidden=(256, 256, 256), lr: float = 3e-4, batch_size: int = 1024, max_epochs: int = 200,
                 device: str = "auto"):
        if int(n_mini_queries) < 1:
            raise ValueError(f"n_mini_queries must be a positive integer; got {n_mini_queries}.")
        self.n_mini_queries = int(n_mini_queries)
        self.unlabeled_ratio = unlabeled_ratio
        self.stop_accuracy = float(stop_accuracy)
        self.hidden = int_tuple(hidden, "hidden")
        self.lr = float(lr)
        self.batch_size = int(batch_size)
        self.max_epochs = int(max_epochs)
        self.device = device

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        labeled = list(np.asarray(view.labeled))
        candidates = np.asarray(view.unlabeled)
        if self.unlabeled_ratio is not None and labeled:
            cap = int(self.unlabeled_ratio * len(labeled))
            if cap >= k and cap < candidates.size:
                candidates = np.sort(rng.choice(candidates, size=cap, replace=False))
        mean = view.mean
        sizes = np.full(self.n_mini_queries, k // self.n_mini_queries)
        sizes[: k % self.n_mini_queries] += 1
        chosen: list[int] = []
        remaining = candidates
        for size in sizes[sizes > 0]:
            side = np.asarray(labeled + chosen, dtype=np.int64)
            Z = np.concatenate([mean[side], mean[remaining]]) if side.size else np.asarray(mean[remaining])
            is_unl = np.concatenate([np.zeros(side.size, bool), np.ones(remaining.size, bool)])
            p_unl = train_discriminator(
                Z, is_unl, hidden=self.hidden, lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                stop_accuracy=self.stop_accuracy, seed=int(rng.integers(2**31)), device=self.device,
            )
            scores = p_unl(np.asarray(mean[remaining]))
            order = rng.permutation(remaining.size)  # saturated scores tie: break ties at random
            top = order[np.argsort(-scores[order], kind="stable")[: int(size)]]
            chosen.extend(remaining[top].tolist())
            remaining = np.delete(remaining, top)
        return np.asarray(chosen, dtype=np.int64)

    def __repr__(self) -> str:
        return f"DiscriminativeAL(n_mini_queries={self.n_mini_queries}, unlabeled_ratio={self.unlabeled_ratio})"
