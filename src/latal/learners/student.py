"""A pixel-space student: a small CNN trained on the images of the whole pool, with the labels where
they exist and a teacher's pseudo-labels (Poisson learning in latent space) everywhere else.

The latent space chooses what to label and carries the labels across the pool; the student then
learns from the images themselves, which the latents only summarise. On MNIST with 10 labels chosen
by ProbCover in the UMAP-refined space, the teacher is right on about 97 % of the pool, and a student
trained on its pseudo-labels beats it on the test set (BENCHMARKS.md, "Label efficiency").

The learner declares ``uses_pool = True`` and ``uses_inputs = True``: the loop calls
``fit(Z, y, n_classes=..., pool=view, inputs=X_pool)`` and evaluates with ``predict(Z, inputs=X)``.
Strategies and stopping criteria, which only hand latents, get the student's pool predictions carried
to those latents by the teacher's nearest-neighbour vote.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from latal.exceptions import DataError
from latal.learners.base import Learner
from latal.strategies.distances import unit_rows


def images_nchw(X) -> np.ndarray:
    """Images (n, h, w), (n, h, w, c) with c in 1..4, or (n, c, h, w) -> float32 (n, c, h, w) in [0, 1]
    (uint8 is divided by 255; floats are taken as scaled already)."""
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        X = np.moveaxis(X, -1, 1)
    elif X.ndim != 4:
        raise DataError(f"the CNN student needs images (n, h, w), (n, h, w, c) or (n, c, h, w); got shape {X.shape}.")
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X, dtype=np.float32) / np.float32(255.0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise DataError("the images hold NaN or infinite values.")
    return X if X.flags.writeable else X.copy()  # torch wraps writable arrays only


ARCHS = ("conv2", "conv3bn")


def _cnn(channels: int, size: tuple[int, int], n_classes: int, width: int, dropout: float, arch: str = "conv2"):
    """``conv2``: two 3x3 conv blocks (``width``, ``2 * width`` filters), each ReLU and 2x2 max-pooling.
    ``conv3bn``: three such blocks (``width``, ``2 * width``, ``4 * width``), each with batch norm after
    the convolution. Either way one hidden layer of ``4 * width`` units with dropout, then the classes."""
    import torch
    import torch.nn as nn

    if arch == "conv2":
        body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    else:
        from latal._torch import conv_bn_blocks

        body = nn.Sequential(*conv_bn_blocks(channels, width), nn.Flatten())
    with torch.no_grad():
        flat = body.eval()(torch.zeros(1, channels, *size)).shape[1]
    body.train()
    return nn.Sequential(body, nn.Linear(flat, 4 * width), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(4 * width, n_classes))


AUGMENTS = ("shift", "affine", "affine_flip", "shift_flip")
GRAPHS = ("features", "features+latents")


def random_affine(xb, shift: int, gen, *, flip: bool = False, degrees: float = 10.0, scale: float = 0.1):
    """Each image of the batch (n, c, h, w) its own random rotation (up to ``degrees``), scale (up to
    ``scale``), translation (up to ``shift`` pixels) and, with ``flip``, a left-right mirror half the time;
    bilinear resampling, zeros outside."""
    import math

    import torch
    import torch.nn.functional as F

    n, _, h, w = xb.shape
    u = torch.rand(n, 5, generator=gen) * 2 - 1
    angle, zoom = u[:, 0] * math.radians(degrees), 1 + u[:, 1] * scale
    mirror = torch.where(u[:, 4] < 0, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * mirror, -sin, u[:, 2] * (2 * shift / w)], 1),
                         torch.stack([sin * mirror, cos, u[:, 3] * (2 * shift / h)], 1)], 1)
    grid = F.affine_grid(theta.to(xb.dtype), list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(xb, size: int, gen):
    """Each image of the batch (n, c, h, w) with its own ``size`` x ``size`` square set to zero, centred on a
    random pixel (cut at the border), as in Cutout (DeVries and Taylor, 2017)."""
    import torch

    n, _, h, w = xb.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=gen)
    cx = torch.randint(0, w, (n, 1, 1), generator=gen)
    rows = (torch.arange(h)[None, :, None] - cy).abs() <= (size - 1) // 2
    cols = (torch.arange(w)[None, None, :] - cx).abs() <= (size - 1) // 2
    return xb * (~(rows & cols))[:, None].to(xb.dtype)


def strong_view(xb, shift: int, gen, *, flip: bool = False):
    """FixMatch's strongly augmented view: a random rotation (up to 30 degrees), scale (up to 20 %) and
    translation (up to twice ``shift`` pixels, at least 2) per image, then a Cutout square of about a third of
    the image's side."""
    h = xb.shape[2]
    moved = random_affine(xb, max(2 * int(shift), 2), gen, flip=flip, degrees=30.0, scale=0.2)
    return cutout(moved, max(1, round(0.35 * h)), gen)


def batched_proba(net, X: np.ndarray, device) -> np.ndarray:
    """Class distributions of a trained network for float images (n, c, h, w), in batches."""
    from latal._torch import batched_apply

    return batched_apply(lambda t: net(t).softmax(dim=1), X, 2048, device)[0].astype(np.float64)


def shifted_proba(net, X: np.ndarray, device, shift: int = 1) -> np.ndarray:
    """Test-time augmentation: the mean of a trained network's class distributions over each float image
    (n, c, h, w) and its four translations by ``shift`` pixels (up, down, left, right; zeros enter)."""
    import torch.nn.functional as F

    from latal._torch import batched_apply

    s = int(shift)
    if s < 1:
        raise ValueError(f"shift must be a positive number of pixels; got {shift!r}.")

    def mean_proba(t):
        h, w = t.shape[2:]
        padded = F.pad(t, (s, s, s, s))
        total = net(t).softmax(dim=1)
        for dy, dx in ((0, s), (2 * s, s), (s, 0), (s, 2 * s)):
            total = total + net(padded[:, :, dy : dy + h, dx : dx + w]).softmax(dim=1)
        return total / 5

    return batched_apply(mean_proba, X, 2048, device)[0].astype(np.float64)


def clamped_targets(proba: np.ndarray, labeled: np.ndarray, labels: np.ndarray,
                    hard: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A student's targets and weights from a teacher's pool distributions: each item weighted by its
    largest probability, its target that distribution (or, ``hard``, its most likely class), the labeled
    items clamped to their labels with weight 1."""
    proba = np.asarray(proba, dtype=np.float32)
    onehot = np.eye(proba.shape[1], dtype=np.float32)
    weight = proba.max(axis=1)
    target = onehot[proba.argmax(axis=1)] if hard else proba.copy()
    target[labeled] = onehot[labels]
    weight[labeled] = 1.0
    return target, weight


def batched_features(net, X: np.ndarray, device) -> np.ndarray:
    """The network's last hidden layer (before the classifier) for float images (n, c, h, w)."""
    from latal._torch import batched_apply

    return np.ascontiguousarray(batched_apply(lambda t: net[:-1](t), X, 2048, device)[0], dtype=np.float32)


def graph_rows(net, images: np.ndarray, device, latents: np.ndarray | None = None, mirror: bool = False) -> np.ndarray:
    """The rows (one per pool image) whose k-NN graph carries the labels to the next generation: ``net``'s
    features of the images, L2-normalised (``mirror``: plus those of the mirrored images first), beside the
    pool's ``latents`` L2-normalised at half weight when they are given (``graph="features+latents"``)."""
    feats = batched_features(net, images, device)
    if mirror:
        feats = feats + batched_features(net, np.ascontiguousarray(images[..., ::-1]), device)
    rows = unit_rows(feats)
    if latents is not None:
        rows = np.hstack([rows, 0.5 * unit_rows(np.asarray(latents, dtype=np.float32))])
    return np.ascontiguousarray(rows, dtype=np.float32)


def propagate_over_features(teacher: str, net, images: np.ndarray, pool, labels: np.ndarray, n_classes: int,
                            device) -> np.ndarray:
    """Pseudo-labels from the labels alone, carried by ``teacher`` (a pool-aware learner spec) over a k-NN graph
    of ``net``'s features of the pool images (its last hidden layer, L2-normalised) instead of the latents."""
    return propagate_over_rows(teacher, graph_rows(net, images, device), pool, labels, n_classes)


def propagate_over_rows(teacher: str, rows: np.ndarray, pool, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The pool's class distributions from its labels alone, carried by ``teacher`` (a pool-aware learner spec)
    over a k-NN graph of ``rows`` (one per pool item, in pool order) instead of the pool's latents."""
    from latal.learners import make_learner

    labeled = np.asarray(pool.labeled, dtype=np.int64)
    graph = make_learner(teacher).fit(rows[labeled], labels, n_classes,
                                      pool=dataclasses.replace(pool, mean=rows, log_var=None))
    return np.asarray(graph.transductive_proba(), dtype=np.float32)


class CNNStudent(Learner):
    """A small CNN (two 3x3 conv blocks, one hidden layer) trained on every pool image: labeled items
    with their labels, the others with the teacher's class distributions, each weighted by the
    teacher's confidence. Random shifts of up to ``shift`` pixels augment every batch (``augment``).

    Parameters
    ----------
    teacher : str, default "poisson"
        A pool-aware learner spec whose ``transductive_proba()`` gives the pseudo-labels (``poisson`` or
        ``label_spreading``; on MNIST Poisson learning is the better teacher from 20 to 100 labels and label
        spreading from 1,000, BENCHMARKS.md).
    epochs : int, default 3
        Passes over the pool (one pass over the 60,000 MNIST images is about 25 s on two CPU cores).
    min_steps : int, default 1000
        At least this many batches, however small the pool (a pool of 1,000 items needs many passes).
    batch_size : int, default 128
    labeled_per_batch : int, default 8
        Labeled items drawn into every batch, so a handful of labels is seen as often as the pool. 32 for
        the first strong student (mixup ``conv3bn``) at 1,000 Fashion-MNIST labels gained +0.85 and +0.65
        points on the same pseudo-labels (2 seeds, 18 % more images per step; BENCHMARKS.md, "More of the
        labels in every batch"); ``final_labeled_per_batch`` sets it for the strong students alone.
    final_labeled_per_batch : int or None, default None
        ``labeled_per_batch`` of the last ``final_generations`` students only (None: ``labeled_per_batch``),
        as ``final_epochs``, ``final_arch`` and ``final_mixup``. 32 in the three strong students of
        ``generations=5,final_generations=3`` at 1,000 Fashion-MNIST labels: the last one 87.98 and 88.01 %
        against 87.16 and 87.56 % with 8, each of the six strong students up by 0.45 to 0.85 points (2 seeds,
        18 % more images per step; BENCHMARKS.md, "The chain with labeled_per_batch=32").
        Not measured elsewhere, so None stays the default.
    lr : float, default 1e-3 (Adam, cosine decay to zero over the epochs)
    width : int, default 32
        Filters of the first conv layer (64 in the second, 128 hidden units).
    arch : {"conv2", "conv3bn"}, default "conv2"
        "conv2": two conv blocks. "conv3bn": three, each with batch norm (``4 * width`` filters in the third);
        about 1.8 times the time of a pass (15 passes over the 60,000 MNIST images: about 910 s of one core
        against 500 s). With ``generations=3,targets=soft,final_epochs=15`` at 3,000 MNIST labels, conv3bn in
        every generation gave 99.40 ± 0.03 % (5 seeds) against 99.21 ± 0.03 % with it in the last one only
        (BENCHMARKS.md, "conv3bn in every generation"); preset ``label-efficient-large``.
    final_arch : {"conv2", "conv3bn"} or None, default None
        The last generation's network only (None: ``arch``); the earlier ones only make the features that
        carry the labels again. At 3,000 MNIST labels, a conv3bn last student (15 epochs) learned the same
        pseudo-labels better than a conv2 one in each of 5 seeds: 99.21 ± 0.03 % against 99.02 ± 0.02 %
        (BENCHMARKS.md, "final_arch").
    dropout : float, default 0.3
    shift : int, default 2
        Largest random translation in pixels (0: no augmentation).
    augment : {"shift", "affine", "affine_flip", "shift_flip"}, default "shift"
        "shift": one random translation per batch. "affine": every image its own random translation (up to
        ``shift`` pixels), rotation (up to 10 degrees) and scale (up to 10 %). "affine_flip": the same, and
        half the images mirrored left to right, for classes that a mirror does not change (clothing; not
        digits or letters). "shift_flip": every image its own translation and the mirror, no rotation or
        scale. Measured, neither pays: at 1,000 Fashion-MNIST labels "affine_flip" gave 82.52 % after two
        generations against 83.79 % with "shift", and a mixup ``conv3bn`` last student with "shift_flip"
        85.32 and 86.11 % against 85.53 and 86.10 % on the same pseudo-labels (2 seeds; BENCHMARKS.md).
    mixup : float, default 0.0
        Mixup (Zhang et al., ICLR 2018) with this Beta(a, a) parameter: every batch is blended with a
        shuffled copy of itself, images, targets and weights alike, with one weight ``lam >= 0.5`` drawn per
        batch (as in MixMatch); a regulariser known to resist noisy labels, which pseudo-labels are.
        0 turns it off. No extra cost per step. It applies to every generation's student; ``final_mixup``
        sets the last one's alone, which is where it pays: at 1,000 Fashion-MNIST labels mixup in the first
        students made their features carry the labels worse (0.27 and 0.43 points more of the pool wrong) and
        the learner lost 0.25 to 0.57 points against ``final_mixup`` alone (2 seeds, BENCHMARKS.md).
    final_mixup : float or None, default None
        The mixup parameter of the last generation's student only (None: ``mixup``). Measured for a
        ``conv3bn`` last student at 1,000 Fashion-MNIST labels, ``final_mixup=0.75`` gained 0.42 to 0.82
        points on 5 seeds over the same student without it, on the same pseudo-labels (BENCHMARKS.md).
    consistency : float, default 0.0
        Weight of a FixMatch term (Sohn et al., NeurIPS 2020): where the student's own prediction on the
        (weakly) augmented image is at least ``threshold`` sure, that class is the target of a strongly
        augmented view of the same image (rotation up to 30 degrees, scale up to 20 %, a larger shift and
        a Cutout square; mirrored too with ``augment="affine_flip"``). It lets the student overrule a
        pseudo-label where its own confident view disagrees. 0 turns it off; on, each step is about twice
        as long (both views go through the network). Measured there on one seed: +0.40 points for
        ``consistency=1.0``, less than mixup for twice the time.
    threshold : float, default 0.95
        The confidence the consistency term asks of the weak view (FixMatch's default).
    targets : {"hard", "soft"}, default "hard"
        Train on the teacher's most likely class ("hard") or on its whole distribution ("soft"); either
        way each pool item is weighted by the teacher's confidence. Soft targets gain 0.1 to 0.2 points
        where the teacher is sure of most of the pool; where the labels missed a class, Poisson learning's
        distributions are nearly flat on much of the pool and a student on them falls below its teacher.
        With ``generations=3`` soft targets did better at the three budgets measured (3,000 MNIST labels,
        100 and 1,000 Fashion-MNIST labels; BENCHMARKS.md).
    final_epochs : int or None, default None
        Passes over the pool for the last generation's student only (None: ``epochs``). Its pseudo-labels
        are the best of the run, so it is the one worth training longer. At 3,000 MNIST labels, 15 epochs
        for the last of three 5-epoch generations gave 99.11 ± 0.09 % against 98.74 ± 0.13 % for 5 on the
        same pseudo-labels (5 seeds, +0.37 ± 0.05); at 1,000 Fashion-MNIST labels 85.10 ± 0.14 % against
        84.02 ± 0.19 % (4 seeds); about 6 more minutes of one core (BENCHMARKS.md).
    generations : int, default 1
        Each further generation trains a fresh student on new pseudo-labels: the teacher re-fitted, with
        the same labels, on a k-NN graph of the previous student's features (its last hidden layer on the
        unshifted pool images, L2-normalised) instead of the latents (label propagation for deep
        semi-supervised learning, Iscen et al., CVPR 2019). Only the labels are propagated, never the
        previous student's guesses. It pays where the student's features group the classes better than
        the latents (3 generations against the best single student: +0.3 points at 3,000 MNIST labels,
        +1.9 at 1,000 Fashion-MNIST labels, +0.7 at 100; BENCHMARKS.md); on a small pool whose features
        the student learned badly, the new graph can carry the labels worse than the first. Each
        generation costs one more training.
    final_generations : int, default 1
        How many of the last generations take ``final_epochs``, ``final_arch`` and ``final_mixup`` (at most
        ``generations``). Each still learns from the labels alone, propagated over the one before's
        features, so the strong last student's features make the next one's graph. At 1,000 Fashion-MNIST
        labels the mixup ``conv3bn`` student's graph carries the labels to more of the pool than its own
        guesses (self-distillation's targets) do, and ``generations=5,final_generations=3`` (two more such
        students after the usual three generations) gave 86.98 ± 0.44 % against 85.81 ± 0.38 % with one (5
        seeds, each up by 0.81 to 1.42 points; BENCHMARKS.md, "More strong generations"); one more gained
        0.14 to 0.38 points more than ``self_distill=1`` on the 3 seeds where both ran on the same
        pseudo-labels. Each costs one more last student's time (about 15 minutes of one core on 60,000 images).
    self_distill : int, default 0
        After the last generation, this many more students with its settings, each trained on the one
        before's own pool distributions (soft, each item weighted by its largest probability, the labels
        clamped) instead of a graph's: the last student is right on more of the pool than the pseudo-labels
        it learned from, so it is the better teacher. Measured with ``final_mixup=0.75`` at 1,000
        Fashion-MNIST labels: one more student gained 0.44 to 0.81 points on 4 seeds (BENCHMARKS.md,
        "Self-distillation"), for one more last student's time.
    graph : {"features", "features+latents"}, default "features"
        The rows whose k-NN graph carries the labels from the second generation on: "features", each
        student's last hidden layer (L2-normalised); "features+latents", those features beside the rows the
        first teacher read (the pool's latents), each block L2-normalised and the latents' at half weight, so
        that the graph keeps what the encoder saw where the student's features are unsure. Measured at 1,000
        Fashion-MNIST labels (``generations=5,final_generations=3``, the contrastive preset's space, 2 seeds):
        the pseudo-labels of the last two generations right on -0.02 to +0.20 points more of the pool, the
        last student +0.22 and -0.08 points (BENCHMARKS.md), so "features" stays the default.
    ema : float, default 0.0
        Keep an exponential moving average of each student's weights (batch-norm statistics too) with this
        decay per step, and use the average as the student (Polyak averaging, as in mean-teacher and FixMatch
        students); 0 turns it off. A copy of the network updated after every step: no extra passes. Not
        measured yet on a real pool, so it stays off.
    tta : int, default 0
        Test-time augmentation: predict the mean of the last student's distributions over each image and
        its four translations by ``tta`` pixels (0: the image alone). Five passes per prediction instead
        of one, at training time too (the pool's distributions that strategies read). Measured on the
        students of ``generations=3``: +0.05 points for the first two, nothing for the conv3bn last one at
        3,000 MNIST labels (99.40 ± 0.04 % against 99.40 ± 0.03 %), so it stays off by default.
    random_state : int or None
    device : str, default "auto"
    """

    uses_pool = True
    uses_inputs = True

    def __init__(self, teacher: str = "poisson", epochs: int = 3, batch_size: int = 128,
                 min_steps: int = 1000, labeled_per_batch: int = 8, lr: float = 1e-3, width: int = 32, dropout: float = 0.3,
                 arch: str = "conv2", shift: int = 2, augment: str = "shift", targets: str = "hard", generations: int = 1,
                 final_epochs: int | None = None, final_arch: str | None = None, tta: int = 0,
                 mixup: float = 0.0, final_mixup: float | None = None, consistency: float = 0.0,
                 threshold: float = 0.95, self_distill: int = 0, final_generations: int = 1,
                 graph: str = "features", ema: float = 0.0, final_labeled_per_batch: int | None = None,
                 random_state: int | None = None, device: str = "auto"):
        self.teacher = teacher
        self.epochs = epochs
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.labeled_per_batch = labeled_per_batch
        self.lr = lr
        self.width = width
        self.dropout = dropout
        self.arch = arch
        self.shift = shift
        self.augment = augment
        self.targets = targets
        self.generations = generations
        self.final_epochs = final_epochs
        self.final_arch = final_arch
        self.tta = tta
        self.mixup = mixup
        self.final_mixup = final_mixup
        self.consistency = consistency
        self.threshold = threshold
        self.self_distill = self_distill
        self.final_generations = final_generations
        self.graph = graph
        self.ema = ema
        self.final_labeled_per_batch = final_labeled_per_batch
        self.random_state = random_state
        self.device = device

    def fit(self, Z, y, n_classes: int | None = None, pool=None, inputs=None) -> CNNStudent:
        import torch

        from latal._torch import resolve_device
        from latal.learners import make_learner

        Z, y, n_classes = self._check_fit_input(Z, y, n_classes)
        if pool is None or inputs is None:
            raise DataError("the CNN student trains on the pool's images: fit(Z, y, pool=view, inputs=images); "
                            "the loop and the labeling app pass both.")
        if len(inputs) != pool.n:
            raise DataError(f"{len(inputs)} images for a pool of {pool.n} items; pass the pool's images in pool order.")
        for name in ("epochs", "batch_size", "width", "generations", "final_generations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}.")
        if int(self.final_generations) > int(self.generations):
            raise ValueError(f"final_generations ({self.final_generations}) counts the last of the generations "
                             f"({self.generations}), so it cannot be larger; raise generations too.")
        if self.final_epochs is not None and int(self.final_epochs) < 1:
            raise ValueError(f"final_epochs must be a positive integer or None; got {self.final_epochs!r}.")
        for name in ("shift", "labeled_per_batch", "final_labeled_per_batch", "tta", "self_distill"):
            value = getattr(self, name)
            if value is not None and int(value) < 0:
                raise ValueError(f"{name} must be >= 0; got {value!r}.")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}.")
        for name in ("arch", "final_arch"):
            value = getattr(self, name)
            if value not in ARCHS and not (name == "final_arch" and value is None):
                raise ValueError(f"{name} must be one of {', '.join(ARCHS)}; got {value!r}.")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {self.augment!r}.")
        if not 0.0 <= float(self.ema) < 1.0:
            raise ValueError(f"ema is the moving average's decay per step, in [0, 1) (0: off); got {self.ema!r}.")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {', '.join(GRAPHS)}; got {self.graph!r}.")
        if self.targets not in ("hard", "soft"):
            raise ValueError(f"targets must be 'hard' or 'soft'; got {self.targets!r}.")
        final_mix = 0.0 if self.final_mixup is None else self.final_mixup
        if not (float(self.mixup) >= 0 and float(final_mix) >= 0 and float(self.consistency) >= 0
                and 0.0 < float(self.threshold) < 1.0):
            raise ValueError(f"mixup, final_mixup and consistency must be >= 0 (0: off) and threshold in (0, 1); got "
                             f"mixup={self.mixup!r}, final_mixup={self.final_mixup!r}, consistency={self.consistency!r}, "
                             f"threshold={self.threshold!r}.")
        teacher = make_learner(self.teacher)
        if not getattr(teacher, "uses_pool", False) or not hasattr(teacher, "transductive_proba"):
            raise ValueError(f"the teacher {self.teacher!r} must be a pool-aware learner with transductive_proba "
                             "(poisson, label_spreading).")
        teacher.fit(Z, y, n_classes, pool=pool)
        labeled = np.asarray(pool.labeled, dtype=np.int64)
        images = images_nchw(inputs)
        X = torch.from_numpy(images)
        device = resolve_device(self.device)
        self.device_ = device
        seed = (int(self.random_state) if self.random_state is not None
                else int(np.random.SeedSequence().generate_state(1)[0]))
        labels = np.asarray(pool.labels)[labeled]
        proba = np.asarray(teacher.transductive_proba(), dtype=np.float32)
        for generation in range(int(self.generations)):
            if generation:  # propagate the labels again, over the last student's view of the images
                proba = self.propagated(self.model_, images, pool, labels, n_classes, device)
            target, weight = clamped_targets(proba, labeled, labels, hard=self.targets == "hard")
            final = generation >= int(self.generations) - int(self.final_generations)
            settings = self.generation_settings(last=final)
            self.model_ = self._train(X, target, weight, labeled, n_classes, seed + generation, device, *settings)
        for step in range(int(self.self_distill)):  # the last student's own distributions teach the next one
            target, weight = clamped_targets(self._proba_images(images), labeled, labels)
            self.model_ = self._train(X, target, weight, labeled, n_classes, seed + int(self.generations) + step,
                                      device, *settings)
        self.n_classes_ = n_classes
        self.n_features_ = Z.shape[1]
        self.classes_ = np.arange(n_classes)
        self.image_shape_ = tuple(X.shape[1:])
        # latents-only queries (strategies, stopping): the student's pool predictions, voted to the latents
        teacher.distributions_ = self._proba_images(images)
        self.teacher_ = teacher
        self.pool_proba_ = teacher.distributions_
        return self

    def propagated(self, net, images: np.ndarray, pool, labels: np.ndarray, n_classes: int, device) -> np.ndarray:
        """The next generation's pool distributions: the labels alone, carried by the teacher over a k-NN graph
        of ``net``'s features of the pool images (beside the pool's latents, ``pool.mean``, under
        ``graph="features+latents"``)."""
        rows = graph_rows(net, images, device, pool.mean if self.graph == "features+latents" else None)
        return propagate_over_rows(self.teacher, rows, pool, labels, n_classes)

    def generation_settings(self, last: bool) -> tuple[int, str, float, int]:
        """(passes over the pool, network, mixup parameter, labeled items per batch) of a generation's student:
        the last ``final_generations`` take ``final_epochs``, ``final_arch``, ``final_mixup`` and
        ``final_labeled_per_batch`` where they are set."""
        def pick(name):
            final = getattr(self, f"final_{name}")
            return final if last and final is not None else getattr(self, name)

        return int(pick("epochs")), str(pick("arch")), float(pick("mixup")), int(pick("labeled_per_batch"))

    def _train(self, X, target, weight, labeled, n_classes, seed, device, epochs, arch, mixup, labeled_per_batch):
        import torch
        import torch.nn.functional as F

        from latal._torch import seeded

        n, s, bs = X.shape[0], int(self.shift), int(self.batch_size)
        T, W = torch.from_numpy(target), torch.from_numpy(weight)
        lab = torch.from_numpy(labeled.copy())
        k_lab = int(labeled_per_batch) if labeled.size else 0
        mix, cons, tau = float(mixup), float(self.consistency), float(self.threshold)
        per_epoch = -(-n // bs)
        epochs = max(int(epochs), -(-max(int(self.min_steps), 0) // per_epoch))
        with seeded(seed, device):
            net = _cnn(X.shape[1], tuple(X.shape[2:]), n_classes, int(self.width), float(self.dropout), arch).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * per_epoch)
            gen = torch.Generator().manual_seed(seed)
            averaged = None
            if float(self.ema):
                from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

                averaged = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(float(self.ema)), use_buffers=True)
            net.train()
            for _ in range(epochs):
                order = torch.randperm(n, generator=gen)
                for start in range(0, n, bs):
                    idx = order[start : start + bs]
                    if k_lab:
                        idx = torch.cat([idx, lab[torch.randint(lab.numel(), (k_lab,), generator=gen)]])
                    raw = X[idx]
                    xb, tb, wb = self._weak_view(raw, s, gen), T[idx], W[idx]
                    if mix:  # one blend per batch, the original images weighing at least half
                        lam = float(torch.distributions.Beta(mix, mix).sample())
                        lam = max(lam, 1.0 - lam)
                        perm = torch.randperm(len(idx), generator=gen)
                        xb = lam * xb + (1 - lam) * xb[perm]
                        tb, wb = lam * tb + (1 - lam) * tb[perm], lam * wb + (1 - lam) * wb[perm]
                    if cons:  # both views in one pass, so batch norm sees them together
                        strong = strong_view(raw, s, gen, flip=self.augment.endswith("_flip"))
                        both = net(torch.cat([xb, strong]).to(device))
                        out, out_strong = both[: len(idx)], both[len(idx) :]
                    else:
                        out = net(xb.to(device))
                    loss = (-(tb.to(device) * F.log_softmax(out, dim=1)).sum(dim=1) * wb.to(device)).mean()
                    if cons:
                        with torch.no_grad():  # the student's own guess on the weak (unblended) view
                            guess = (net(self._weak_view(raw, s, gen).to(device)) if mix else out).softmax(dim=1)
                            sure, cls = guess.max(dim=1)
                            mask = (sure >= tau).to(out.dtype)
                        loss = loss + cons * (F.cross_entropy(out_strong, cls, reduction="none") * mask).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    if averaged is not None:
                        averaged.update_parameters(net)
        if averaged is not None:
            net = averaged.module
        net.eval()
        return net

    def _weak_view(self, xb, s: int, gen):
        """The batch as every step trains on it: ``augment``'s transform, or one random shift per batch."""
        import torch
        import torch.nn.functional as F

        if self.augment == "shift_flip":
            return random_affine(xb, s, gen, flip=True, degrees=0.0, scale=0.0)
        if self.augment != "shift":
            return random_affine(xb, s, gen, flip=self.augment == "affine_flip")
        if not s:
            return xb
        dx, dy = torch.randint(0, 2 * s + 1, (2,), generator=gen).tolist()  # pad, then crop
        return F.pad(xb, (s, s, s, s))[:, :, dy : dy + xb.shape[2], dx : dx + xb.shape[3]]

    def _proba_images(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            return np.zeros((0, self.n_classes_))
        if int(self.tta):
            return shifted_proba(self.model_, X, self.device_, int(self.tta))
        return batched_proba(self.model_, X, self.device_)

    def predict_proba(self, Z, inputs=None) -> np.ndarray:
        Z = self._check_predict_input(Z)
        if inputs is None:
            return self.teacher_.predict_proba(Z)
        X = images_nchw(inputs)
        if X.shape[0] != Z.shape[0] or X.shape[1:] != self.image_shape_:
            raise DataError(f"{X.shape[0]} images of shape {X.shape[1:]} for {Z.shape[0]} latents; the student "
                            f"was trained on images of shape {self.image_shape_}, one per latent row.")
        return self._proba_images(X)

    def predict(self, Z, inputs=None) -> np.ndarray:
        return np.argmax(self.predict_proba(Z, inputs=inputs), axis=1).astype(np.int64)
