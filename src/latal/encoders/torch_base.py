"""Shared machinery of the PyTorch encoders: one training loop, batched inference, decoding.

Models hold layers only; everything about training lives in :meth:`TorchEncoder._fit`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from latal.encoders.base import Encoder, Latent
from latal.exceptions import DataError


#: channels-last memory layout for convolutions on the CPU (faster with oneDNN); the speed benchmark
#: switches it off to measure what it buys
CHANNELS_LAST = True


def to_nchw(X: np.ndarray) -> np.ndarray:
    """(n, h, w) or (n, h, w, c) scaled images -> (n, c, h, w) float32."""
    if X.ndim == 3:
        return X[:, None, :, :].astype(np.float32, copy=False)
    if X.ndim == 4:
        return np.ascontiguousarray(np.moveaxis(X, -1, 1), dtype=np.float32)
    raise DataError(f"convolutional encoders need images (n, h, w) or (n, h, w, c); got shape {X.shape}.")


class TorchEncoder(Encoder):
    """Base of the neural encoders.

    Common parameters
    -----------------
    epochs : int
        Maximum number of epochs; training stops earlier when the validation loss has not
        improved for ``patience`` epochs, and the best weights are kept.
    batch_size : int, default 100 (the papers')
    lr : float, default 1e-3
    optimizer : {"rmsprop", "adam"}
    val_fraction : float, default 0.1
        Share of the pool held out (seeded) to watch the loss; 0 trains on everything for
        exactly ``epochs`` epochs.
    patience : int, default 3
    random_state : int, default 0
        Seeds initialisation, the validation split, shuffling and sampling.
    device : str, default "auto"
    progress : bool, default True
        A progress bar with the loss, per epoch.
    """

    #: layer geometry and loss are given by subclasses
    cacheable = True
    has_decoder = True

    def __init__(self, epochs: int = 10, batch_size: int = 100, lr: float = 1e-3, optimizer: str = "adam",
                 val_fraction: float = 0.1, patience: int = 3, random_state: int = 0, device: str = "auto",
                 progress: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.val_fraction = val_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.progress = progress

    # ---------------------------------------------------------------- subclass API
    def _build(self, input_shape: tuple[int, ...]):
        """Return the ``torch.nn.Module`` for inputs of ``input_shape`` (c, h, w) or (features,)."""
        raise NotImplementedError

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Scaled items -> the array the model takes (images NCHW by default)."""
        return to_nchw(X)

    def _loss(self, model, x):
        """Mean loss per item over a batch, and a dict of its parts."""
        raise NotImplementedError

    # ---------------------------------------------------------------- training
    def _fit(self, X: np.ndarray) -> None:
        import torch
        from tqdm.auto import tqdm

        from latal._torch import make_optimizer, resolve_device, seeded, training_batches

        data = self._prepare(X)
        n = data.shape[0]
        epochs, bs = int(self.epochs), int(self.batch_size)
        if epochs < 1 or bs < 1:
            raise ValueError("epochs and batch_size must be positive integers.")
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        n_val = int(round(float(self.val_fraction) * n)) if self.val_fraction else 0
        if n_val and n - n_val < bs:
            n_val = 0  # too few items to hold any out
        perm = rng.permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        channels_last = CHANNELS_LAST and data.ndim == 4 and device.type == "cpu"

        def batch_tensor(idx):
            t = torch.from_numpy(data[idx]).to(device)
            return t.contiguous(memory_format=torch.channels_last) if channels_last else t

        history = {"train_loss": [], "val_loss": [], "epoch_seconds": []}
        with seeded(self.random_state, device):
            model = self._build(tuple(data.shape[1:])).to(device)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            opt = make_optimizer(self.optimizer, model.parameters(), self.lr)
            best, best_state, stale = math.inf, None, 0
            bar = tqdm(range(epochs), desc=f"train {type(self).__name__}", unit="epoch",
                       disable=not self.progress, leave=False)
            for epoch in bar:
                t0 = time.perf_counter()
                model.train()
                order = train_idx[rng.permutation(train_idx.shape[0])]
                total, count = 0.0, 0
                for part in training_batches(order, bs):
                    idx = np.sort(part)
                    x = batch_tensor(idx)
                    opt.zero_grad(set_to_none=True)
                    loss, _ = self._loss(model, x)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                history["train_loss"].append(total / count)
                val = self._evaluate(model, data, val_idx, batch_tensor) if n_val else history["train_loss"][-1]
                history["val_loss"].append(val)
                history["epoch_seconds"].append(time.perf_counter() - t0)
                bar.set_postfix(loss=f"{history['train_loss'][-1]:.2f}", val=f"{val:.2f}")
                if val < best - 1e-6:
                    best, stale = val, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if n_val and stale >= int(self.patience):
                        break
            bar.close()
            if best_state is not None:
                model.load_state_dict(best_state)
        model.eval()
        self.model_ = model.cpu() if device.type != "cpu" else model
        self.history_ = history
        self.best_epoch_ = int(np.argmin(history["val_loss"])) + 1
        self.train_seconds_ = float(sum(history["epoch_seconds"]))
        self.n_train_, self.n_val_ = int(train_idx.shape[0]), int(n_val)

    def _evaluate(self, model, data, idx, batch_tensor) -> float:
        import torch

        model.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, idx.shape[0], 1000):
                part = idx[start : start + 1000]
                loss, _ = self._loss(model, batch_tensor(part))
                total += float(loss) * len(part)
        return total / max(idx.shape[0], 1)

    # ---------------------------------------------------------------- inference
    def _device(self):
        from latal._torch import resolve_device

        return resolve_device(self.device)

    def _run_batches(self, fn, arrays: np.ndarray, batch: int = 1024):
        """``fn(model, tensor)`` over ``arrays`` in batches, without gradients; one array per output."""
        from latal._torch import batched_apply

        device = self._device()
        model = self.model_.to(device)
        model.eval()
        return batched_apply(lambda t: fn(model, t), arrays, batch, device, channels_last=CHANNELS_LAST)

    def _encode(self, X: np.ndarray) -> Latent:
        parts = self._run_batches(lambda m, x: m.encode(x), self._prepare(X))
        mean = np.ascontiguousarray(parts[0], dtype=np.float32)
        log_var = np.ascontiguousarray(parts[1], dtype=np.float32) if len(parts) > 1 and self.variational else None
        return Latent(mean=mean, log_var=log_var)

    def decode(self, z) -> np.ndarray:
        """Decode latent vectors to items in [0, 1], in the shape the encoder was fitted on."""
        self._check_fitted()
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim_:
            raise DataError(f"latent vectors must have shape (n, {self.latent_dim_}); got {z.shape}.")
        (out,) = self._run_batches(lambda m, t: m.decode(t), z)
        if len(self.input_shape_) == 3 and len(self._model_shape) == 3:  # (h, w, c): back from NCHW
            out = np.moveaxis(out.reshape(-1, *self._model_shape), 1, -1)
        return out.reshape(-1, *self.input_shape_)

    def reconstruct(self, X) -> np.ndarray:
        """Decode the latent means of ``X`` (items in [0, 1])."""
        return self.decode(self.encode(X).mean)

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        """Pickle the weights (a state dict) and rebuild the layers on load, so models stay plain
        layer containers and a saved encoder loads on any device."""
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        if model is not None:
            state["_model_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            state["_model_input_shape"] = tuple(model.input_shape)
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_state", None)
        shape = state.pop("_model_input_shape", None)
        self.__dict__.update(state)
        if weights is not None:
            import torch

            torch.manual_seed(0)  # initial values are overwritten by the saved weights
            model = self._build(shape)
            model.load_state_dict(weights)
            model.eval()
            self.model_ = model

    @property
    def latent_dim_(self) -> int:
        return int(self.model_.latent_dim)

    @property
    def _model_shape(self) -> tuple[int, ...]:
        return tuple(self.model_.input_shape)


def gaussian_kl(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) per item, summed over dimensions."""
    return -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1)


def vae_loss(model, x, kl_reduction: str = "sum"):
    """Binary cross-entropy summed over pixels + KL to the prior, averaged over the batch;
    reparameterised sample of z.

    ``kl_reduction="sum"`` is the evidence lower bound (the Keras dense VAE example the thesis
    builds on); ``"mean"`` averages the KL over the latent dimensions, as the Keras convolutional
    VAE example behind the thesis's conv VAE does (``K.mean(..., axis=-1)``): a KL weight of 1/d,
    which is why the thesis's conv VAEs use every latent dimension and reach lower losses
    (Table 5.1)."""
    import torch
    import torch.nn.functional as F

    mu, log_var = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
    logits = model.decode_logits(z)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)
    kl = gaussian_kl(mu, log_var)
    if kl_reduction == "mean":
        kl = kl / mu.shape[1]
    elif kl_reduction != "sum":
        raise ValueError(f"kl_reduction must be 'sum' or 'mean'; got {kl_reduction!r}.")
    return (rec + kl).mean(), {"reconstruction": rec.mean(), "kl": kl.mean()}
