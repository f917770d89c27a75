"""DFAL (Ducoffe & Precioso, 2018), paper 004's baseline: query the items closest to the decision
boundary, measured by the size of the DeepFool perturbation that flips the learner's prediction,
computed here in latent space through the MLP."""

from __future__ import annotations

import numpy as np

from latal.exceptions import MissingRequirementError
from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.batch import top_k


def deepfool_norms(model, Z: np.ndarray, *, max_iter: int = 50, overshoot: float = 0.02, batch: int = 4096,
                   device=None) -> np.ndarray:
    """L2 norm of the DeepFool perturbation of every row of ``Z`` (batched; all classes' gradients by
    one backward pass per class). Rows not flipped within ``max_iter`` steps get their accumulated norm."""
    import torch

    dev = device or next(model.parameters()).device
    out = np.empty(Z.shape[0], dtype=np.float64)
    model.eval()
    for start in range(0, Z.shape[0], batch):
        x0 = torch.as_tensor(np.ascontiguousarray(Z[start : start + batch], dtype=np.float32), device=dev)
        with torch.no_grad():
            label = model(x0).argmax(1)
        r_tot = torch.zeros_like(x0)
        active = torch.ones(x0.shape[0], dtype=torch.bool, device=dev)
        rows = torch.arange(x0.shape[0], device=dev)
        for _ in range(int(max_iter)):
            x = (x0 + (1 + overshoot) * r_tot).detach().requires_grad_(True)
            logits = model(x)
            still = logits.argmax(1) == label
            active &= still
            if not active.any():
                break
            c = logits.shape[1]
            grads = torch.stack([torch.autograd.grad(logits[:, j].sum(), x, retain_graph=j < c - 1)[0]
                                 for j in range(c)], dim=1)                       # (b, C, d)
            f = (logits - logits[rows, label][:, None]).detach()                 # (b, C)
            w = grads - grads[rows, label][:, None, :]                           # (b, C, d)
            w_norm = w.norm(dim=2) + 1e-8
            ratio = f.abs() / w_norm
            ratio[rows, label] = float("inf")
            j = ratio.argmin(1)
            step = (ratio[rows, j] + 1e-4)[:, None] * w[rows, j] / w_norm[rows, j][:, None]
            r_tot = r_tot + step * active[:, None]
        out[start : start + x0.shape[0]] = ((1 + overshoot) * r_tot).norm(dim=1).cpu().numpy()
    return out


class DFAL(Strategy):
    """Top-k smallest DeepFool perturbation in latent space (needs the MLP learner).

    Parameters
    ----------
    max_iter : int, default 50
    overshoot : float, default 0.02 (DeepFool's)
    subsample : int or None, default None
        Score only this many random unlabeled items per round (None: all).
    """

    needs = Needs.LEARNER
    description = "DFAL: smallest DeepFool perturbation to flip the MLP's prediction, in latent space"

    def __init__(self, max_iter: int = 50, overshoot: float = 0.02, subsample: int | None = None):
        self.max_iter = int(max_iter)
        self.overshoot = float(overshoot)
        self.subsample = subsample

    def check_setup(self, *, variational, learner=None):
        super().check_setup(variational=variational, learner=learner)
        if learner is not None and not getattr(learner, "supports_gradients", False):
            raise MissingRequirementError(
                f"DFAL differentiates the learner; {type(learner).__name__} is not differentiable here. Use mlp."
            )

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        cand = np.asarray(ctx.pool.unlabeled)
        if self.subsample is not None and int(self.subsample) < cand.size:
            cand = np.sort(rng.choice(cand, size=max(k, int(self.subsample)), replace=False))
        norms = deepfool_norms(ctx.learner.model_, np.asarray(ctx.learner_rows[cand]), max_iter=self.max_iter,
                               overshoot=self.overshoot, device=ctx.learner.device_)
        return cand[top_k(-norms, k)]
