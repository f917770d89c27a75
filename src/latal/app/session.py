"""The active-learning loop behind the labeling page.

A :class:`LabelingSession` owns the latents, the derived label state, the current query batch and a
background worker. People ask for work (:meth:`next_items`), label, skip and undo; each of those is
committed to the :class:`~latal.app.store.ProjectStore` before it is acknowledged. When a batch is
done (or every ``retrain_every`` labels) the worker refits the learner on the latents, selects the
next batch and stores it; only then does it spend time on what nobody waits for (the reserve
batch, the stopping criteria, the cross-validated accuracy estimate). So the next batch is ready a
fraction of a second after the last label of the previous one.

While the worker is busy, or when other annotators hold every item of the batch, a client is
handed items of the *reserve*: the next-best items chosen by the previous model, so nobody waits.
Items are leased to one client at a time; a lease expires after ``lease_seconds`` without a sign of
life, and the item goes back to the queue.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from latal.app.store import LabelState, ProjectStore, audit_items
from latal.exceptions import LabelError, LatalError
from latal.learners.base import fit_extras, pool_proba
from latal.pool import PoolView, _readonly
from latal.stopping import wilson_interval
from latal.strategies.base import Needs, QueryContext
from latal.strategies.random import RandomSampling

log = logging.getLogger("latal.app")


class Conflict(LatalError):
    """A well-formed request that the project's state refuses (budget reached, nothing to undo)."""


@dataclass
class SessionSettings:
    """How the loop behind the page behaves.

    batch : labels per round (the size of each query batch)
    budget : most labels the project may use (None: the whole pool)
    retrain_every : also retrain after this many new labels, before the batch is done (None: per batch)
    reserve : next-best items kept ready beside each batch (None: one more batch)
    lease_seconds : an item handed to a client comes back to the queue after this long without activity
    max_wait : seconds a request for work waits for a running retrain before it is given reserve items
    cv_folds : folds of the cross-validated accuracy estimate after each retrain (0: none)
    seed : every random choice of the session derives from it
    guesses : compute the model's class and probability for each queued item (``item_info``'s ``guess``)
    audit : share of each batch after the first drawn uniformly at random from the unlabeled pool instead of by
        the strategy (0: none): the *audit* items, a test set that grows as people label. They are shown without
        the model's guess and held out of the rounds' training (and of the queries), so the model's accuracy on
        them estimates its accuracy on the pool without the bias of the queried items (``audit_accuracy`` and its
        95 % interval in the round report). They count towards the budget, and ``predictions(refit=True)`` (``latal
        export --predictions``) fits on them too.
    """

    batch: int = 20
    budget: int | None = None
    retrain_every: int | None = None
    reserve: int | None = None
    lease_seconds: float = 300.0
    max_wait: float = 2.0
    cv_folds: int = 5
    seed: int = 0
    guesses: bool = True  # show the model's class and probability on each queued item
    audit: float = 0.0

    def __post_init__(self):
        for name in ("batch", "budget", "retrain_every", "reserve"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < (0 if name == "reserve" else 1)):
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.lease_seconds <= 0 or self.max_wait < 0 or self.cv_folds < 0 or self.cv_folds == 1:
            raise ValueError("lease_seconds must be > 0, max_wait >= 0, cv_folds 0 or >= 2.")
        if isinstance(self.audit, bool) or not 0.0 <= float(self.audit) < 1.0:
            raise ValueError(f"audit is the share of each batch drawn at random, from 0 (none) to below 1; got "
                             f"{self.audit!r}.")


class LabelingSession:
    """The state and the worker behind one project's labeling page.

    Parameters
    ----------
    store : ProjectStore
    latents : callable returning ``(mean, log_var)`` arrays for every item, run by the worker (so an
        encoder can train while the first, random batch is labeled), or the tuple itself; a third array
        ``learner_mean`` (one row per item) gives the learner its own representation: the strategies
        choose in ``mean``, the learner fits, predicts and is cross-validated in ``learner_mean``
        (``learn_on`` of :class:`~latal.experiment.ExperimentConfig`)
    learner, strategy, initial_strategy : a Learner and two Strategies (the initial one needs no labels)
    stopping : stopping criteria, updated after each retrain; the page reports when one fires
    settings : SessionSettings
    encoder, inputs : handed to strategies that read them
    """

    def __init__(self, store: ProjectStore, latents, learner, strategy, initial_strategy, *,
                 stopping: Sequence = (), settings: SessionSettings | None = None, encoder=None, inputs=None,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.settings = settings or SessionSettings()
        self.learner, self.strategy, self.initial_strategy = learner, strategy, initial_strategy
        if Needs.LEARNER in initial_strategy.needs or Needs.LABELS in initial_strategy.needs:
            raise LabelError(f"the initial strategy {initial_strategy!r} needs labels; use random, typiclust, "
                             "probcover, maxherding, density or kmeans.")
        self.stopping = list(stopping)
        self.stop_names = [getattr(c, "name", "") or type(c).__name__ for c in self.stopping]
        self.encoder, self.inputs = encoder, inputs
        self.classes = store.classes
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self._latents = latents
        self.mean = self.log_var = self.learner_mean = None
        self.model, self.model_labels = None, 0  # the learner the last round fitted, and on how many labels
        self.guesses: dict[int, tuple[int, float]] = {}  # that learner's class and probability for the queued items
        self._clock = clock
        self._cond = threading.Condition(threading.RLock())
        events = store.events()  # read once: the label state and the imports since the last round
        self.state = LabelState()
        self.state.apply(events)
        self.leases: dict[int, tuple[str, float]] = {}
        self.round, self.batch, self.reserve = -1, [], []
        queued = store.latest_queue()
        if queued is not None:
            self.round, self.batch, self.reserve = queued
        rounds = store.rounds()
        self.fit_labels = int(rounds[-1].get("n_labels", 0)) if rounds else 0
        # labels imported since the last round (or before the first): the next round is due without waiting
        # for the batch, so the model and the batch it picks start from them
        since = rounds[-1]["time"] if rounds else float("-inf")
        self._imported = any(e.kind == "import" and e.time > since for e in events)
        self.pending = False
        self.busy = False
        self.exhausted = False
        self.status = "preparing the latent space"
        self.error: str | None = None
        self._failed_at: int | None = None
        self.stopped: dict[str, int] = {}
        self.audit_items = audit_items(rounds)  # drawn uniformly at random: the held-out test items (``audit``)
        for rec in rounds:
            for name, n in (rec.get("stopped") or {}).items():
                self.stopped.setdefault(name, n)
        self._cache: dict = {}
        self._review: dict = {}  # the background review's state (start_review)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.round_seconds: list[dict] = []  # per retrain: fit/select seconds and time to publish
        if queued is None and not self.state.labels and isinstance(initial_strategy, RandomSampling):
            # a random first batch needs no latent space: the person starts while the encoder trains
            first = self._random_first()
            b = self.settings.batch
            self._publish(0, first[:b], first[b:], {"strategy": repr(initial_strategy), "n_labels": 0})

    # ------------------------------------------------------------------ worker
    def start(self) -> LabelingSession:
        self._thread = threading.Thread(target=self._work, name="latal-worker", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until the worker has nothing to do (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pending or self.busy or self.mean is None:
                if self.error and self.mean is None:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _load_latents(self) -> tuple:
        """Every item's ``(mean, log_var, learner_mean)``, computed (or read from the cache) and checked."""
        latents = self._latents() if callable(self._latents) else self._latents
        mean, log_var, *rest = latents
        if np.shape(mean)[0] != self.store.n_items:
            raise LatalError(f"the latents have {np.shape(mean)[0]} rows for {self.store.n_items} items.")
        learner_mean = rest[0] if rest else None
        if learner_mean is not None and np.shape(learner_mean)[0] != self.store.n_items:
            raise LatalError(f"the learner's latents have {np.shape(learner_mean)[0]} rows for "
                             f"{self.store.n_items} items.")
        if learner_mean is not None:
            learner_mean = _readonly(np.asarray(learner_mean, dtype=np.float32))
        return (np.asarray(mean, dtype=np.float32), None if log_var is None else np.asarray(log_var, dtype=np.float32),
                learner_mean)

    def _work(self) -> None:
        try:
            mean, log_var, learner_mean = self._load_latents()
            self._warm_up(mean if learner_mean is None else learner_mean)
        except Exception as exc:  # shown on the page; labeling the first batch still works
            log.error("preparing the latent space failed:\n%s", traceback.format_exc())
            with self._cond:
                self.error = f"preparing the latent space failed: {exc}"
                self.status = "error"
                self._cond.notify_all()
            return
        with self._cond:
            self.mean, self.log_var, self.learner_mean = mean, log_var, learner_mean
            self.status = "idle"
            if self.round < 0:
                self.pending = True
            self._maybe_request_round()
            self._cond.notify_all()
        while True:
            with self._cond:
                while not (self.pending or self._closing):
                    self._cond.wait()
                if self._closing:
                    return
                self.pending, self.busy, self._imported = False, True, False
                self.status = "training"
                labels = {i: lab.label for i, lab in self.state.labels.items()}
                skipped = set(self.state.skipped)
                round_ = self.round + 1
            try:
                self._run_round(round_, labels, skipped)
                with self._cond:
                    self.error, self._failed_at = None, None
            except Exception as exc:
                log.error("round %d failed:\n%s", round_, traceback.format_exc())
                with self._cond:
                    self.error = f"round {round_} failed: {exc}"
                    self._failed_at = self.state.last_event  # retried when a new label arrives, not in a loop
            finally:
                with self._cond:
                    self.busy = False
                    self.status = "idle"
                    self._maybe_request_round()
                    self._cond.notify_all()

    def _warm_up(self, mean: np.ndarray) -> None:
        """Fit and predict once on a few rows with made-up labels, so the first real retrain does not pay
        the one-off start-up of the learner's library (about 2.7 s for the torch MLP on this CPU)."""
        n = len(self.classes)
        if getattr(self.learner, "uses_inputs", False):  # trains on every image: nothing small to warm up on
            return
        rows = mean[: 4 * n] if mean.shape[0] >= 4 * n else mean
        try:
            params = {"epochs": 1} if "epochs" in self.learner.get_params() else {}
            model = self.learner.clone(**params).fit(rows, np.arange(rows.shape[0]) % n, n_classes=n,
                                                     **fit_extras(self.learner))
            model.predict_proba(mean[: min(mean.shape[0], 1024)])
        except Exception:  # a warm-up is an optimisation only
            log.debug("warm-up failed:\n%s", traceback.format_exc())

    def _view(self, labels: dict[int, str], skipped: set[int]) -> PoolView:
        lab = np.full(self.store.n_items, -1, dtype=np.int64)
        if labels:
            idx = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
            lab[idx] = [self.class_index[c] for c in labels.values()]
        open_ = lab == -1
        if skipped:
            open_[np.fromiter(skipped, dtype=np.int64, count=len(skipped))] = False
        return PoolView(mean=_readonly(self.mean), log_var=_readonly(self.log_var), labels=_readonly(lab),
                        labeled=_readonly(np.flatnonzero(lab != -1)), unlabeled=_readonly(np.flatnonzero(open_)),
                        n_classes=len(self.classes), class_names=tuple(self.classes))

    def _select(self, strategy, view, fitted, k, rng, exclude=()) -> list[int]:
        if exclude:
            keep = np.setdiff1d(view.unlabeled, np.asarray(list(exclude), dtype=np.int64), assume_unique=True)
            view = PoolView(view.mean, view.log_var, view.labels, view.labeled, _readonly(keep), view.n_classes,
                            view.class_names)
        k = min(int(k), int(view.unlabeled.size))
        if k <= 0:
            return []
        ctx = QueryContext(pool=view, learner=fitted, encoder=self.encoder, inputs=self.inputs, cache=self._cache,
                           learner_mean=self.learner_mean)
        chosen = np.asarray(strategy.select(ctx, k, rng), dtype=np.int64)
        allowed = np.zeros(view.n, dtype=bool)
        allowed[view.unlabeled] = True
        return [int(i) for i in chosen if allowed[i]]  # a wrapper that ignores skips cannot bring one back

    def _run_round(self, round_: int, labels: dict[int, str], skipped: set[int]) -> None:
        s = self.settings
        t0 = time.perf_counter()
        with self._cond:  # the labeled audit items test the model: neither trained on nor queried
            held = {i for i in self.audit_items if i in labels}
        view = self._view({i: c for i, c in labels.items() if i not in held}, skipped | held)
        seeds = np.random.SeedSequence([s.seed, round_])
        rng = np.random.default_rng(seeds.spawn(1)[0])
        fitted = None
        strategy = self.initial_strategy
        if view.labeled.size:
            fitted = self._fit(view, int(seeds.generate_state(1)[0]))
            strategy = self.strategy
            with self._cond:
                self.model, self.model_labels = fitted, int(view.labeled.size)
        t_fit = time.perf_counter()
        n_audit = self._audit_slots(rng) if fitted is not None else 0  # the first batch trains the first model
        batch = self._select(strategy, view, fitted, s.batch - n_audit, rng)
        audit = []
        if n_audit:  # uniform draws from the rest of the pool, at random places in the batch
            batch, audit = self._with_audit(view, batch, n_audit, rng)
        t_sel = time.perf_counter()
        # the page shows the model's guess on each item (a batch's rows cost little); none without a model, and
        # none on the audit items, whose labels must not lean on the model they measure
        drawn = set(audit)
        shown = [i for i in batch if i not in drawn]
        guesses = self._guesses(fitted, shown) if fitted is not None and s.guesses else {}
        with self._cond:
            self.guesses = guesses
        report = {"strategy": repr(strategy), "n_labels": len(labels), "n_train": int(view.labeled.size),
                  "class_counts": np.bincount(view.labels[view.labeled], minlength=len(self.classes)).tolist(),
                  "fit_seconds": t_fit - t0, "select_seconds": t_sel - t_fit, "audit": sorted(audit)}
        self._publish(round_, batch, [], report, n_fit=len(labels))
        published = time.perf_counter()
        self.round_seconds.append({"round": round_, "fit": t_fit - t0, "select": t_sel - t_fit,
                                   "publish": published - t0})
        if not batch:
            return
        # what nobody waits for: the reserve, the stopping criteria, the accuracy estimate
        n_reserve = s.batch if s.reserve is None else s.reserve
        if n_reserve and not self._superseded():
            reserve = self._select(strategy, view, fitted, n_reserve, rng, exclude=batch)
            guesses = self._guesses(fitted, reserve) if fitted is not None and s.guesses else {}
            with self._cond:
                if self.round == round_:
                    self.guesses.update(guesses)
                    self.reserve = reserve
                    self.store.save_queue(round_, batch, reserve, report)
        extra, scored = self._audit_estimate(fitted, labels, skipped) if fitted is not None else ({}, None)
        if fitted is not None and self.stopping:
            stop_rng = np.random.default_rng([s.seed, 7919])
            fired = {}
            # the criteria count every label and read the pool left unlabeled: the audit items are labeled
            every = self._learner_view(self._view(labels, skipped) if held else view)
            for name, criterion in zip(self.stop_names, self.stopping):
                more = {"audit": scored} if getattr(criterion, "needs_audit", False) else {}
                hit = bool(criterion.update(every, fitted, stop_rng, **more))
                fired[name] = {"fired": hit, "value": getattr(criterion, "last_value_", None)}
                if hit:
                    with self._cond:
                        self.stopped.setdefault(name, len(labels))
            extra["stopping"] = fired
            extra["stopped"] = dict(self.stopped)
        if fitted is not None and s.cv_folds:
            extra.update(self._cross_validate(view))
        if extra:
            self.store.update_round(round_, **extra)

    def _audit_slots(self, rng) -> int:
        """How many items of the next batch are drawn at random: ``audit * batch`` on average (the fraction
        rounded up with its own probability, so a share of 0.1 of 25 gives 2 or 3)."""
        share = float(self.settings.audit)
        if not share:
            return 0
        whole, frac = divmod(share * self.settings.batch, 1.0)
        return int(whole) + int(rng.random() < frac)

    def _with_audit(self, view: PoolView, picks: list[int], n_audit: int, rng) -> tuple[list[int], list[int]]:
        """The batch: the strategy's ``picks`` and ``n_audit`` items drawn uniformly from the rest of the unlabeled
        pool, placed at random so nobody can tell them apart; and those audit items."""
        rest = np.setdiff1d(view.unlabeled, np.asarray(picks, dtype=np.int64), assume_unique=True)
        drawn = [int(i) for i in rng.choice(rest, size=min(n_audit, rest.size), replace=False)]
        batch = picks + drawn
        return [batch[k] for k in rng.permutation(len(batch))], drawn

    def _audit_estimate(self, model, labels: dict[int, str], skipped: set[int]) -> tuple[dict, tuple[int, int]]:
        """The round report's fields on the audit items, and ``(hits, n)``: ``model``'s right answers among the ``n``
        labeled audit items. The report has its accuracy there with a 95 % Wilson interval. They were drawn
        uniformly from the unlabeled pool, labeled without the model's guess shown, and held out of its training,
        so nothing about the queried items, which the strategy chose for being hard, biases it. Audit items
        skipped are counted (``audit_skipped``): skips are likelier on hard items, so many of them flatter it."""
        with self._cond:
            audit = sorted(self.audit_items)
        rows = [i for i in audit if i in labels]
        out = {"audit_labels": len(rows), "audit_skipped": sum(i in skipped for i in audit)}
        if not rows:
            return out, (0, 0)
        proba = pool_proba(model, self._learner_rows(), self.inputs, items=rows)
        hits = int(np.sum(proba.argmax(axis=1) == [self.class_index[labels[i]] for i in rows]))
        low, high = wilson_interval(hits, len(rows))
        return {**out, "audit_accuracy": hits / len(rows), "audit_low": low, "audit_high": high}, (hits, len(rows))

    def predictions(self, refit: bool = False) -> tuple[np.ndarray, int]:
        """Every item's class distribution, ``(n_items, n_classes)``, and the number of labels behind it.

        ``refit=False`` (the page's download) takes the learner the last round fitted, at once; ``refit=True``
        (``latal export --predictions``) prepares the latent space if the worker has not, and fits the learner on
        every label standing now (seeded by the project's seed, so the same labels give the same predictions)."""
        if refit:
            self._ensure_latents()
            labels = self._current_labels()
            if not labels:
                raise LabelError("no item is labeled yet, so there is nothing to predict from: label some items "
                                 "(latal label) or load existing labels (latal import) first.")
            view = self._view(labels, set())
            seed = int(np.random.SeedSequence([self.settings.seed, len(labels)]).generate_state(1)[0])
            model, n_labels = self._fit(view, seed), len(labels)
        else:
            with self._cond:
                model, n_labels = self.model, self.model_labels
            if model is None:
                raise Conflict("no model is fitted yet: the first one is fitted when the first batch is labeled "
                               "(or run `latal export --predictions`, which fits one on the labels so far).")
        return pool_proba(model, self._learner_rows(), self.inputs), n_labels

    def _guesses(self, model, items: list[int]) -> dict[int, tuple[int, float]]:
        """``{item: (class index, probability)}``: ``model``'s most likely class for each of ``items``."""
        if not items:
            return {}
        proba = pool_proba(model, self._learner_rows(), self.inputs, items=items)
        best = proba.argmax(axis=1)
        return {int(i): (int(c), float(proba[k, c])) for k, (i, c) in enumerate(zip(items, best))}

    def _learner_rows(self) -> np.ndarray:
        """Every item's row as the learner reads it: its own latents when it has them."""
        return self.mean if self.learner_mean is None else self.learner_mean

    def _learner_view(self, view: PoolView) -> PoolView:
        """``view`` as the learner reads it: its own latents when it has them."""
        if self.learner_mean is None:
            return view
        return dataclasses.replace(view, mean=self.learner_mean, log_var=None)

    def _fit(self, view: PoolView, seed: int):
        params = {"random_state": seed % (2**31)} if "random_state" in self.learner.get_params() else {}
        view = self._learner_view(view)
        extra = fit_extras(self.learner, view, self.inputs)
        Z, y = view.mean[view.labeled], view.labels[view.labeled]
        return self.learner.clone(**params).fit(Z, y, n_classes=view.n_classes, **extra)

    def _superseded(self) -> bool:
        with self._cond:
            return self.pending or self._closing

    def _cross_validate(self, view: PoolView) -> dict:
        """Stratified k-fold accuracy of the learner on the labels so far (classes with >= 2 labels).
        Abandoned, not blocking, when new labels already ask for the next retrain."""
        out = self._out_of_fold(view, self.settings.cv_folds, abandon=True)
        if isinstance(out, str):
            return {"cv_accuracy": None, "cv_note": out}
        rows, fold, proba = out
        hit = proba.argmax(axis=1) == view.labels[rows]
        scores = [float(np.mean(hit[fold == k])) for k in range(int(fold.max()) + 1)]
        return {"cv_accuracy": float(np.mean(scores)), "cv_std": float(np.std(scores)), "cv_folds": len(scores),
                "cv_labels": int(rows.size), "cv_contradicted": int(np.sum(~hit))}

    def _out_of_fold(self, view: PoolView, n_folds: int, abandon: bool,
                     on_fold: Callable[[int, int], None] | None = None):
        """Each labeled item's class distribution from the learner fitted without its fold (stratified k-fold
        over the classes with >= 2 labels; a graph learner still sees the held-out items, unlabeled):
        ``(rows, fold of each row, proba)``, or a string saying why there is none. With ``abandon``, gives up
        when new labels already ask for the next retrain; ``on_fold(done, folds)`` is told after each fit."""
        from sklearn.model_selection import StratifiedKFold

        y = view.labels[view.labeled]
        counts = np.bincount(y, minlength=view.n_classes)
        kept = counts >= 2
        if kept.sum() < 2:
            return "needs 2 labels in at least 2 classes"
        folds = int(min(n_folds, counts[kept].min()))
        rows = view.labeled[kept[y]]
        yk = view.labels[rows]
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.settings.seed)
        rows_of_learner = self._learner_rows()
        proba = np.zeros((rows.size, view.n_classes))
        fold = np.zeros(rows.size, dtype=np.int64)
        for k, (tr, te) in enumerate(splitter.split(rows, yk)):
            if abandon and self._superseded():
                return "abandoned for a newer round"
            labels = np.full(view.n, -1, dtype=np.int64)
            labels[rows[tr]] = yk[tr]
            sub = PoolView(view.mean, view.log_var, _readonly(labels), _readonly(rows[tr]),
                           _readonly(np.flatnonzero(labels == -1)), view.n_classes, view.class_names)
            model = self._fit(sub, self.settings.seed * 31 + k)
            proba[te] = pool_proba(model, rows_of_learner, self.inputs, items=rows[te])
            fold[te] = k
            if on_fold is not None:
                on_fold(k + 1, folds)
        return rows, fold, proba

    def _ensure_latents(self) -> None:
        """Prepare the latent space here and now if the worker has not (the command line, no server)."""
        if self.mean is None:
            mean, log_var, learner_mean = self._load_latents()
            with self._cond:
                self.mean, self.log_var, self.learner_mean = mean, log_var, learner_mean

    def _current_labels(self) -> dict[int, str]:
        self.sync()
        with self._cond:
            return {i: lab.label for i, lab in self.state.labels.items()}

    def review(self, n_folds: int = 5, on_fold: Callable[[int, int], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray, int]:
        """Out-of-fold class distributions of the labeled items: each from the learner fitted on the other folds'
        labels (stratified ``n_folds``-fold), so a label the rest of the labels contradict stands out.
        Returns ``(items, proba, not_reviewed)``; items of a class with a single label cannot be held out and
        are counted in ``not_reviewed``."""
        if int(n_folds) < 2:
            raise ValueError(f"a review needs at least 2 folds; got {n_folds}.")
        self._ensure_latents()
        labels = self._current_labels()
        view = self._view(labels, set())
        out = self._out_of_fold(view, int(n_folds), abandon=False, on_fold=on_fold)
        if isinstance(out, str):
            raise LabelError(f"nothing to review yet: the review {out} (it has {len(labels)} labels).")
        rows, _, proba = out
        return rows, proba, len(labels) - rows.size

    def start_review(self, n_folds: int = 5) -> dict:
        """Start :meth:`review` in the background (the page's "check labels"); :meth:`review_status` reports it.
        A review already running is not started twice."""
        n_folds = int(n_folds)
        if n_folds < 2:
            raise LabelError(f"a review needs at least 2 folds; got {n_folds}.")
        self.sync()
        with self._cond:
            self._require_latents("check the labels")
            if self._review.get("status") != "running":
                self._review = {"status": "running", "folds": n_folds, "folds_done": 0,
                                "labels": len(self.state.labels), "since_event": self.state.last_event}
                threading.Thread(target=self._review_job, args=(n_folds,), name="latal-review",
                                 daemon=True).start()
        return self.review_status()

    def _require_latents(self, action: str) -> None:
        if self.mean is None:
            raise Conflict(f"the latent space is still being prepared; {action} once the model status says idle.")

    def _review_job(self, n_folds: int) -> None:
        from latal.app.transfer import review_rows

        started = time.monotonic()
        try:
            items, proba, not_reviewed = self.review(n_folds, on_fold=self._review_progress)
            result = {"status": "done", "reviewed": int(items.size), "not_reviewed": int(not_reviewed),
                      "suspects": review_rows(self.store, items, proba)}
        except LatalError as exc:  # nothing to review yet
            result = {"status": "error", "error": str(exc)}
        except Exception as exc:
            log.error("the review failed:\n%s", traceback.format_exc())
            result = {"status": "error", "error": f"the review failed: {exc}"}
        with self._cond:
            self._review.update(result, seconds=round(time.monotonic() - started, 3))
            self._cond.notify_all()

    def _review_progress(self, done: int, folds: int) -> None:
        with self._cond:
            self._review.update(folds_done=done, folds=folds)

    def review_status(self) -> dict:
        """The last review started here: ``status`` (idle, running, done or error) and, when done, the labels it
        found contradicted (:func:`~latal.app.transfer.review_rows`), each with ``now``: its label as it stands
        (None if undone) and ``checked_by``: who labeled it again since the review started, if anyone."""
        self.sync()
        with self._cond:
            out = {k: v for k, v in self._review.items() if k != "since_event"} or {"status": "idle"}
            since = self._review.get("since_event", 0)
            if "suspects" in out:
                rows = []
                for row in out["suspects"]:
                    lab = self.state.labels.get(row["item"])
                    rows.append({**row, "now": lab.label if lab else None,
                                 "checked_by": lab.annotator if lab and lab.event > since else None})
                out["suspects"] = rows
        return out

    def _random_first(self) -> list[int]:
        rng = np.random.default_rng([self.settings.seed, 0])
        s = self.settings
        n = min(s.batch + (s.batch if s.reserve is None else s.reserve), self.store.n_items)
        return [int(i) for i in rng.choice(self.store.n_items, size=n, replace=False)]

    def _publish(self, round_: int, batch: list[int], reserve: list[int], report: dict, n_fit: int = 0) -> None:
        self.store.save_queue(round_, batch, reserve, report)  # on disk before anyone is shown it
        with self._cond:
            self.round, self.batch, self.reserve = round_, list(batch), list(reserve)
            self.audit_items.update(int(i) for i in report.get("audit") or ())
            self.fit_labels = n_fit
            self.exhausted = not batch
            self._cond.notify_all()

    # ------------------------------------------------------------------ state
    def sync(self) -> None:
        """Fold in events written by anyone else (another process importing labels)."""
        new = self.store.events(self.state.last_event)
        if new:
            with self._cond:
                self._apply(new)
                self._maybe_request_round()

    def _apply(self, events) -> None:
        self.state.apply(events)
        self._imported = self._imported or any(e.kind == "import" for e in events)

    def _catch_up(self) -> None:
        """Fold in the event just written (and any other process's before it), then see whether a round is due."""
        with self._cond:
            self._apply(self.store.events(self.state.last_event))  # ours and anything before it
            self._maybe_request_round()
            self._cond.notify_all()

    @property
    def budget(self) -> int:
        b = self.settings.budget
        return self.store.n_items if b is None else min(int(b), self.store.n_items)

    def _budget_left(self) -> int:
        return self.budget - len(self.state.labels)

    def _maybe_request_round(self) -> None:
        """Ask the worker for the next round when the batch is done (or enough new labels arrived)."""
        if self.mean is None or self.pending or self._budget_left() <= 0:
            return
        if self.busy:  # the worker looks again when the running round is published, against its new batch
            return
        if self._failed_at is not None and self.state.last_event <= self._failed_at:
            return
        if self.round < 0:
            self.pending = True
        else:
            batch_done = all(self.state.is_done(i) for i in self.batch) and not self.exhausted
            every = self.settings.retrain_every
            new = len(self.state.labels) - self.fit_labels
            if batch_done or (every is not None and new >= every) or self._imported:
                self.pending = True
        if self.pending:
            self._cond.notify_all()

    def _lease_ok(self, item: int, client: str, now: float) -> bool:
        held = self.leases.get(item)
        return held is None or held[0] == client or held[1] < now

    def next_items(self, client: str, n: int | None = None, wait: float | None = None) -> dict:
        """Lease up to ``n`` items (the batch size by default) to ``client``: the ones it already holds,
        then free items of the current batch, then (when the worker is busy or the batch is held by
        others) items of the reserve. Waits up to ``wait`` seconds for a running retrain."""
        self.sync()
        n = self.settings.batch if n is None else max(1, min(int(n), 500))
        wait = self.settings.max_wait if wait is None else max(0.0, min(float(wait), 30.0))
        deadline = self._clock() + wait
        with self._cond:
            while True:
                now = self._clock()
                mine = [i for i, (c, exp) in self.leases.items() if c == client and exp >= now and not self.state.is_done(i)]
                room = self._budget_left() - sum(
                    1 for i, (c, exp) in self.leases.items() if exp >= now and c != client and not self.state.is_done(i))
                room -= len(mine)
                taking_reserve = False
                free = [i for i in self.batch if i not in mine and not self.state.is_done(i) and self._lease_ok(i, client, now)]
                if not free and not mine and room > 0:
                    waiting_for_model = self.pending or self.busy
                    if waiting_for_model and now < deadline:
                        self._cond.wait(min(deadline - now, 0.25))
                        continue
                    free = [i for i in self.reserve if not self.state.is_done(i) and self._lease_ok(i, client, now)]
                    taking_reserve = bool(free)
                take = free[: max(0, min(n - len(mine), room))]
                others = any(not self._lease_ok(i, client, now) and not self.state.is_done(i) for i in self.batch)
                if others and not taking_reserve and len(mine) + len(take) < n:
                    # other people hold the rest of the batch: fill the page from the reserve
                    extra = [i for i in self.reserve if not self.state.is_done(i) and self._lease_ok(i, client, now)
                             and i not in mine]
                    extra = extra[: max(0, min(n - len(mine) - len(take), room - len(take)))]
                    taking_reserve = bool(extra) and not take and not mine
                    take += extra
                for i in mine + take:
                    self.leases[i] = (client, now + self.settings.lease_seconds)
                items = mine + take
                if items:
                    status = "ok"
                elif self._budget_left() <= 0:
                    status = "budget_reached"
                elif self.exhausted:
                    status = "pool_exhausted"
                elif self.error and self.mean is None and self.round < 0:
                    status = "error"
                else:
                    status = "waiting"
                return {"status": status, "round": self.round, "provisional": taking_reserve,
                        "items": [self.item_info(i) for i in items]}

    def similar(self, item, k: int = 24) -> dict:
        """The ``k`` items nearest to ``item`` in the latent space the strategies choose in, nearest first, that
        nobody has labeled or skipped (the page's "more like this": more of a rare class than the queries find),
        each with the last model's guess. Labels given to them count towards the budget like any other."""
        item = self.store.check_item(item)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 500:
            raise LabelError(f"k must be an integer from 1 to 500; got {k!r}.")
        self.sync()
        with self._cond:
            self._require_latents("ask for similar items")
            mean, model = self.mean, self.model
            done = np.fromiter(set(self.state.labels) | self.state.skipped, dtype=np.int64)
        dist = np.square(mean - mean[item]).sum(axis=1)
        dist[item] = np.inf
        dist[done] = np.inf
        m = int(min(k, np.isfinite(dist).sum()))
        near = np.argpartition(dist, m - 1)[:m] if m else np.zeros(0, dtype=np.int64)
        near = near[np.argsort(dist[near], kind="stable")].tolist()
        guesses = self._guesses(model, near) if model is not None and self.settings.guesses else {}
        return {"item": self.item_info(item), "items": [self.item_info(i, guesses) for i in near]}

    def item_info(self, item: int, guesses: dict[int, tuple[int, float]] | None = None) -> dict:
        """An item's id, standing label and skip, and the model's guess for it (from ``guesses``, by default the
        queued items')."""
        lab = self.state.labels.get(item)
        info = {"id": int(item), "label": lab.label if lab else None, "skipped": item in self.state.skipped}
        guess = (self.guesses if guesses is None else guesses).get(int(item))
        if guess is not None:  # the last model's class for it, and that class's probability
            info["guess"] = {"label": self.classes[guess[0]], "confidence": round(guess[1], 4)}
        return info

    def release(self, client: str) -> int:
        """Give back every item the client holds (a closed tab)."""
        with self._cond:
            mine = [i for i, (c, _) in self.leases.items() if c == client]
            for i in mine:
                del self.leases[i]
            return len(mine)

    def label(self, item, label, annotator: str, client: str | None = None) -> dict:
        item = self.store.check_item(item)
        label = self.store.check_label(label)
        self.sync()
        with self._cond:
            relabel = item in self.state.labels
            if not relabel and self._budget_left() <= 0:
                raise Conflict(f"the budget of {self.budget} labels is used up; restart with a larger --budget to "
                               "label more (relabeling stays possible).")
            ev = self.store.append("relabel" if relabel else "label", item, annotator, label)
            if client is not None:
                self._renew(client)
            self._catch_up()
        return {"ok": True, "event": ev.id, "kind": ev.kind, "item": self.item_info(item)}

    def skip(self, item, annotator: str, client: str | None = None) -> dict:
        item = self.store.check_item(item)
        self.sync()
        with self._cond:
            ev = self.store.append("skip", item, annotator)
            if client is not None:
                self._renew(client)
            self._catch_up()
        return {"ok": True, "event": ev.id, "kind": "skip", "item": self.item_info(item)}

    def undo(self, annotator: str, client: str | None = None) -> dict:
        """Take back the annotator's last label, relabel or skip; the item returns to the client's view."""
        self.sync()
        with self._cond:
            target = self.state.last_undoable(annotator.strip() if isinstance(annotator, str) else annotator)
            if target is None:
                raise Conflict(f"nothing to undo for annotator {annotator!r}.")
            ev = self.store.append("undo", target.item, annotator, target=target.id)
            if client is not None:
                self.leases[target.item] = (client, self._clock() + self.settings.lease_seconds)
            self._catch_up()
            return {"ok": True, "event": ev.id, "undone": {"event": target.id, "kind": target.kind,
                                                          "label": target.label},
                    "item": self.item_info(target.item)}

    def _renew(self, client: str) -> None:
        until = self._clock() + self.settings.lease_seconds
        for i, (c, _) in list(self.leases.items()):
            if c == client:
                self.leases[i] = (c, until)

    def progress(self) -> dict:
        self.sync()
        rounds = self.store.rounds()
        with self._cond:
            per_class = dict.fromkeys(self.classes, 0)
            for lab in self.state.labels.values():
                per_class[lab.label] += 1
            return {
                "labels": len(self.state.labels), "budget": self.budget, "skipped": len(self.state.skipped),
                "per_class": per_class, "round": self.round, "batch_size": self.settings.batch,
                "batch_left": sum(1 for i in self.batch if not self.state.is_done(i)),
                "model": self.status, "error": self.error, "pending": self.pending or self.busy,
                "exhausted": self.exhausted,
                "rounds": [{k: r.get(k) for k in ("round", "n_labels", "cv_accuracy", "cv_std", "cv_folds",
                                                  "cv_contradicted", "fit_seconds", "select_seconds",
                                                  "audit_accuracy", "audit_low", "audit_high", "audit_labels")}
                           for r in rounds],
                "stopped": dict(self.stopped),
                "stopping": (rounds[-1].get("stopping") if rounds else None),
            }

