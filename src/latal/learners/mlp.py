"""The thesis's classifier: a small MLP on latents, trained with RMSprop for a fixed number of epochs."""

from __future__ import annotations

import numpy as np

from latal._validation import int_tuple
from latal.learners.base import Learner


def _tensor(a: np.ndarray):
    """A float32 tensor sharing memory with ``a`` when it is writable, else a copy (torch cannot wrap
    read-only arrays such as pool views or memory maps)."""
    import torch

    a = np.ascontiguousarray(a, dtype=np.float32)
    return torch.from_numpy(a) if a.flags.writeable else torch.tensor(a)


def _build_mlp(n_in: int, hidden, dropout: float, n_out: int):
    import torch.nn as nn

    layers = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU(), nn.Dropout(dropout)]
        width = int(h)
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class MLPClassifier(Learner):
    """Multilayer perceptron with dropout and a softmax output (thesis section 3.3 and 4.2.2).

    Parameters
    ----------
    hidden : tuple of int, default (512, 512)
        Hidden layer widths (the thesis's chosen architecture).
    dropout : float, default 0.2
    epochs : int, default 20
        Fixed number of epochs: an active learner has no validation labels to stop on.
    batch_size : int, default 100
    lr : float, default 1e-3
        RMSprop learning rate (Keras's default, as in the thesis).
    weight_decay : float, default 0.0
    random_state : int or None
        Seeds initialisation, shuffling and dropout; the same seed gives the same model.
    device : str, default "auto"
        ``"auto"`` = CUDA when present, else CPU.
    predict_batch_size : int, default 8192
        Rows per forward pass at prediction time.
    """

    supports_sampling = True
    #: exposes its torch network (``model_``) for strategies that differentiate it (DFAL)
    supports_gradients = True

    def __init__(self, hidden=(512, 512), dropout: float = 0.2, epochs: int = 20, batch_size: int = 100,
                 lr: float = 1e-3, weight_decay: float = 0.0, random_state: int | None = None,
                 device: str = "auto", predict_batch_size: int = 8192):
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.predict_batch_size = predict_batch_size

    def _hidden(self) -> tuple[int, ...]:
        return int_tuple(self.hidden, "hidden")  # "hidden=256x256" in a spec string

    def fit(self, Z, y, n_classes: int | None = None) -> MLPClassifier:
        import torch
        import torch.nn as nn

        from latal._torch import make_optimizer, resolve_device, seeded

        Z, y, n_classes = self._check_fit_input(Z, y, n_classes)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1); got {self.dropout}.")
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError("epochs and batch_size must be positive integers.")
        device = resolve_device(self.device)
        seed = (int(self.random_state) if self.random_state is not None
                else int(np.random.SeedSequence().generate_state(1)[0]))
        with seeded(seed, device):
            model = _build_mlp(Z.shape[1], self._hidden(), float(self.dropout), n_classes)
            for m in model.modules():  # Keras's default initialisation (Glorot uniform, zero bias)
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
            model.to(device)
            opt = make_optimizer("rmsprop", model.parameters(), self.lr, self.weight_decay)
            loss_fn = nn.CrossEntropyLoss()
            X = _tensor(Z).to(device)
            T = torch.from_numpy(y).to(device)
            n = X.shape[0]
            bs = int(self.batch_size)
            model.train()
            for _ in range(int(self.epochs)):
                order = torch.randperm(n, device=device)
                for start in range(0, n, bs):
                    idx = order[start : start + bs]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(X[idx]), T[idx])
                    loss.backward()
                    opt.step()
        model.eval()
        self.model_ = model
        self.device_ = device
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        return self

    def _forward(self, Z: np.ndarray, fn) -> np.ndarray:
        from latal._torch import batched_apply

        return batched_apply(fn, Z, self.predict_batch_size, self.device_)[0]

    def predict_proba(self, Z) -> np.ndarray:
        Z = self._check_predict_input(Z)
        self.model_.eval()
        return self._forward(Z, lambda x: self.model_(x).softmax(dim=1)).astype(np.float64)

    def embed(self, Z, dtype=np.float64) -> np.ndarray:
        """The last hidden layer's activations (eval mode): the features the softmax layer reads.
        Used by gradient-based strategies (EGL, BADGE); ``dtype=np.float32`` halves the memory of a large pool."""
        Z = self._check_predict_input(Z)
        self.model_.eval()
        return self._forward(Z, self.model_[:-1]).astype(dtype, copy=False)

    def predict_proba_embed(self, Z) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba(Z), embed(Z))`` from one forward pass; the embedding is float32."""
        from latal._torch import batched_apply

        Z = self._check_predict_input(Z)
        self.model_.eval()
        body, head = self.model_[:-1], self.model_[-1]

        def both(x):
            h = body(x)
            return head(h).softmax(dim=1), h

        proba, h = batched_apply(both, Z, self.predict_batch_size, self.device_)
        return proba.astype(np.float64), h

    def predict_proba_samples(self, Z, n_samples: int = 20, random_state: int | None = None) -> np.ndarray:
        """Monte-Carlo dropout: ``n_samples`` stochastic forward passes, shape (n_samples, n, classes)."""
        import torch

        from latal._torch import seeded

        Z = self._check_predict_input(Z)
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples}.")
        seed = 0 if random_state is None else int(random_state)
        with seeded(seed, self.device_):
            self.model_.train()  # dropout on
            try:
                # samples-first per batch: (n, T, C) so that batches concatenate along items
                out = self._forward(
                    Z, lambda x: torch.stack([self.model_(x).softmax(dim=1) for _ in range(int(n_samples))], dim=1)
                )
            finally:
                self.model_.eval()
        return np.ascontiguousarray(np.moveaxis(out, 1, 0)).astype(np.float64)

    def __getstate__(self):
        state = self.__dict__.copy()
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        import torch

        if "device_" in state:
            state["device_"] = torch.device(state["device_"])
        self.__dict__.update(state)
