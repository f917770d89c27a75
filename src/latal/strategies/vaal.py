"""VAAL (Sinha, Ebrahimi & Darrell, ICCV 2019), the baseline of papers 003 and 004: a VAE and a
discriminator trained adversarially on labeled vs unlabeled items; the batch is the unlabeled items
the discriminator is surest are unlabeled (lowest P(labeled) of their latent mean).

Here the VAE runs over the pool's representation (latal's latents), which keeps it CPU-sized; the
adversarial game is the paper's: the discriminator separates the labeled from the unlabeled latent
means, while the VAE, besides reconstructing both, learns to make every item look labeled.
"""

from __future__ import annotations

import numpy as np

from latal._validation import int_tuple
from latal.strategies.base import Needs, QueryContext, Strategy


def _mlp(n_in: int, hidden, n_out: int):
    import torch.nn as nn

    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def train_vaal(Z_lab: np.ndarray, Z_unl: np.ndarray, *, latent_dim: int = 32, hidden=(256, 256),
               disc_hidden=(512, 512), iterations: int = 1000, batch_size: int = 64, lr: float = 5e-4,
               beta: float = 1.0, adversary_weight: float = 1.0, vae_steps: int = 2, disc_steps: int = 1,
               seed: int = 0, device: str = "auto"):
    """Train VAAL's VAE and discriminator; returns ``score(Z) -> P(labeled)`` of the latent means."""
    import torch
    import torch.nn.functional as F

    from latal._torch import batched_apply, make_optimizer, resolve_device, seeded
    from latal.learners.mlp import _tensor

    dev = resolve_device(device)
    d = Z_lab.shape[1]
    with seeded(seed, dev):
        enc = _mlp(d, hidden, 2 * latent_dim).to(dev)
        dec = _mlp(latent_dim, tuple(reversed(tuple(hidden))), d).to(dev)
        disc = _mlp(latent_dim, disc_hidden, 1).to(dev)
        opt_vae = make_optimizer("adam", list(enc.parameters()) + list(dec.parameters()), lr)
        opt_disc = make_optimizer("adam", disc.parameters(), lr)
        L = _tensor(Z_lab).to(dev)
        U = _tensor(Z_unl).to(dev)
        ones = torch.ones(batch_size, device=dev)
        zeros = torch.zeros(batch_size, device=dev)

        def encode(x):
            mu, log_var = enc(x).chunk(2, dim=1)
            return mu, log_var.clamp(-10.0, 10.0)

        def vae_loss(x, mu, log_var):
            z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
            rec = F.mse_loss(dec(z), x)
            kld = -0.5 * torch.mean(1 + log_var - mu.pow(2) - log_var.exp())
            return rec + beta * kld

        for _ in range(int(iterations)):
            xl = L[torch.randint(L.shape[0], (batch_size,), device=dev)]
            xu = U[torch.randint(U.shape[0], (batch_size,), device=dev)]
            for _ in range(int(vae_steps)):
                mu_l, lv_l = encode(xl)
                mu_u, lv_u = encode(xu)
                adv = (F.binary_cross_entropy_with_logits(disc(mu_l).squeeze(1), ones)
                       + F.binary_cross_entropy_with_logits(disc(mu_u).squeeze(1), ones))
                loss = vae_loss(xl, mu_l, lv_l) + vae_loss(xu, mu_u, lv_u) + adversary_weight * adv
                opt_vae.zero_grad(set_to_none=True)
                loss.backward()
                opt_vae.step()
            for _ in range(int(disc_steps)):
                with torch.no_grad():
                    mu_l, _ = encode(xl)
                    mu_u, _ = encode(xu)
                loss = (F.binary_cross_entropy_with_logits(disc(mu_l).squeeze(1), ones)
                        + F.binary_cross_entropy_with_logits(disc(mu_u).squeeze(1), zeros))
                opt_disc.zero_grad(set_to_none=True)
                loss.backward()
                opt_disc.step()
    enc.eval()
    disc.eval()

    def p_labeled(Zq: np.ndarray) -> np.ndarray:
        return batched_apply(lambda x: torch.sigmoid(disc(encode(x)[0]).squeeze(1)), Zq, 8192, dev)[0].astype(np.float64)

    return p_labeled


class VAAL(Strategy):
    """Variational Adversarial Active Learning.

    Parameters (the paper's where they transfer: Adam 5e-4, batch 64, 2 VAE steps per discriminator
    step, adversary weight 1, beta 1, a 32-d VAE latent, a 512-512 discriminator)
    ----------
    iterations : int, default 1000
        Training iterations per query (the VAE and discriminator are retrained every round, as in the paper).
    hidden : VAE widths, default (256, 256)
    """

    needs = Needs.LABELS
    description = "VAAL: VAE + labeled-vs-unlabeled discriminator trained adversarially, lowest P(labeled)"

    def __init__(self, iterations: int = 1000, latent_dim: int = 32, hidden=(256, 256), disc_hidden=(512, 512),
                 batch_size: int = 64, lr: float = 5e-4, beta: float = 1.0, adversary_weight: float = 1.0,
                 device: str = "auto"):
        if int(iterations) < 1 or int(latent_dim) < 1 or int(batch_size) < 1:
            raise ValueError("iterations, latent_dim and batch_size must be positive integers.")
        self.iterations = int(iterations)
        self.latent_dim = int(latent_dim)
        self.hidden = int_tuple(hidden, "hidden")
        self.disc_hidden = int_tuple(disc_hidden, "disc_hidden")
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.beta = float(beta)
        self.adversary_weight = float(adversary_weight)
        self.device = device

    def _select(self, ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        view = ctx.pool
        unl = np.asarray(view.unlabeled)
        score = train_vaal(
            np.asarray(view.mean[view.labeled]), np.asarray(view.mean[unl]), latent_dim=self.latent_dim,
            hidden=self.hidden, disc_hidden=self.disc_hidden, iterations=self.iterations,
            batch_size=self.batch_size, lr=self.lr, beta=self.beta, adversary_weight=self.adversary_weight,
            seed=int(rng.integers(2**31)), device=self.device,
        )
        p = score(np.asarray(view.mean[unl]))
        order = rng.permutation(unl.size)  # saturated scores tie: break ties at random
        return unl[order[np.argsort(p[order], kind="stable")[:k]]]

    def __repr__(self) -> str:
        return f"VAAL(iterations={self.iterations}, latent_dim={self.latent_dim})"
