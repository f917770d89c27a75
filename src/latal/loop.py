"""The active-learning loop: one round = fit, evaluate, select, label."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from latal._validation import check_latent
from latal.exceptions import BudgetExceedsPoolError, DataError, MissingRequirementError
from latal.learners.base import Learner, fit_extras
from latal.oracles import Oracle
from latal.pool import Pool, _readonly
from latal.stopping import StoppingCriterion
from latal.strategies.base import Needs, QueryContext, Strategy
from latal.strategies.random import RandomSampling


#: the phases of a round a labeling person waits for (evaluation on a test set is not one of them)
ROUND_PHASES = ("fit", "score", "select")


@dataclass
class RoundRecord:
    """What happened in one round."""

    round: int
    n_labeled: int
    accuracy: float | None
    seconds: dict[str, float]
    class_counts: list[int]
    queried: list[int] = field(default_factory=list)  # indices selected at the end of this round
    strategy_info: dict | None = None  # what the strategy reported about its last selection, if anything
    stopping: dict | None = None  # per criterion: {"fired": bool, "value": what it measured}

    @property
    def round_seconds(self) -> float:
        """fit + score + select: what a person waits for between two batches."""
        return sum(self.seconds.get(k, 0.0) for k in ROUND_PHASES)


@dataclass
class History:
    """Per-round records of a run, plus the indices of the initial batch."""

    rounds: list[RoundRecord] = field(default_factory=list)
    initial: list[int] = field(default_factory=list)
    #: label count at which each stopping criterion first fired
    stopped: dict[str, int] = field(default_factory=dict)

    @property
    def n_labeled(self) -> list[int]:
        return [r.n_labeled for r in self.rounds]

    @property
    def accuracy(self) -> list[float | None]:
        return [r.accuracy for r in self.rounds]

    def queries(self) -> list[list[int]]:
        """Every batch in the order it was labeled, the initial one first."""
        return [self.initial] + [r.queried for r in self.rounds if r.queried]

    def to_dict(self) -> dict:
        return {"initial": list(self.initial), "rounds": [asdict(r) for r in self.rounds],
                "stopped": dict(self.stopped)}


def evaluate_accuracy(learner: Learner, Z, y, inputs=None) -> float:
    """Accuracy on ``(Z, y)``; a learner that reads the raw items (``uses_inputs``) is handed ``inputs``."""
    if getattr(learner, "uses_inputs", False):
        if inputs is None:
            raise DataError(f"{type(learner).__name__} predicts from the raw items (images); pass the test "
                            "items with the test latents (test=(Z_test, y_test, X_test)).")
        return float(np.mean(learner.predict(Z, inputs=inputs) == np.asarray(y)))
    return float(np.mean(learner.predict(Z) == np.asarray(y)))


def check_budget(n_pool: int, initial: int, batch: int, rounds: int) -> int:
    for name, value, low in (("initial", initial, 1), ("batch", batch, 1), ("rounds", rounds, 0)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    budget = int(initial) + int(batch) * int(rounds)
    if budget > n_pool:
        raise BudgetExceedsPoolError(
            f"the run asks for {budget} labels ({initial} initial + {rounds} rounds x {batch}) but the pool holds "
            f"{n_pool} items; lower --rounds, --batch or --initial, or use a larger pool."
        )
    return budget


def run_active_learning(
    pool: Pool,
    learner: Learner,
    strategy: Strategy,
    oracle: Oracle,
    *,
    initial: int = 100,
    batch: int = 100,
    rounds: int = 29,
    test: tuple[np.ndarray, ...] | None = None,
    seed: int = 0,
    initial_strategy: Strategy | None = None,
    encoder=None,
    inputs=None,
    on_round: Callable[[RoundRecord], None] | None = None,
    stopping: Sequence[StoppingCriterion] = (),
    halt_on_stop: bool = False,
    learner_space: np.ndarray | None = None,
) -> History:
    """Run a simulated (or oracle-driven) active-learning experiment on ``pool``.

    The initial batch is chosen by ``initial_strategy`` (random by default) without labels; then
    ``rounds`` times: fit a fresh learner on the labeled latents, evaluate it on ``test``, select
    ``batch`` items with ``strategy`` and label them with ``oracle``. A final fit and evaluation
    follow the last batch, so the history has ``rounds + 1`` records, the last at
    ``initial + rounds * batch`` labels.

    ``test`` is ``(Z_test, y_test)``, or ``(Z_test, y_test, X_test)`` with the raw test items for a
    learner that reads them (``uses_inputs``, such as the CNN student; it is also fitted with
    ``inputs=inputs``, the pool's raw items).

    ``stopping`` criteria are updated after every fit; the label count at which each first fires is
    kept in ``History.stopped`` (and reported to ``on_round``); with ``halt_on_stop`` the run ends at
    the first round where any fires. They draw from their own random stream, so adding them changes
    no query.

    ``learner_space`` (n, d') gives the learner its own representation of the pool items, in pool order:
    strategies choose in ``pool.mean`` (say a UMAP refinement, where label-free picks land on more classes)
    while the learner fits, predicts for the strategies and is evaluated in ``learner_space`` (then
    ``test``'s latents are in that representation too). None: the learner reads ``pool.mean``.

    The same ``seed`` gives the same queries and the same curve.
    """
    check_budget(pool.n - pool.n_labeled, initial, batch, rounds)
    initial_strategy = initial_strategy or RandomSampling()
    variational = pool.log_var is not None
    # refuse impossible combinations before any training
    strategy.check_setup(variational=variational, learner=learner)
    initial_strategy.check_setup(variational=variational, learner=learner)
    if Needs.LEARNER in initial_strategy.needs or (Needs.LABELS in initial_strategy.needs and pool.n_labeled == 0):
        raise MissingRequirementError(
            f"the initial strategy {initial_strategy!r} needs labels, but no label exists before the "
            "first batch; use a strategy that needs no labels (random, density, ...)."
        )
    if getattr(learner, "uses_inputs", False) and inputs is None:
        raise MissingRequirementError(f"{learner!r} trains on the raw items (images); pass inputs= (the pool's "
                                      "items, in pool order).")
    if learner_space is not None:
        learner_space = _readonly(check_latent(learner_space, "learner_space"))
        if learner_space.shape[0] != pool.n:
            raise DataError(f"learner_space has {learner_space.shape[0]} rows; the pool has {pool.n} items. Give "
                            "one row per pool item, in pool order.")
    learner_dim = (pool.mean if learner_space is None else learner_space).shape[1]
    Z_test = y_test = X_test = None
    if test is not None:
        if len(test) not in (2, 3):
            raise ValueError("test must be (Z_test, y_test) or (Z_test, y_test, X_test).")
        Z_test, y_test = test[0], test[1]
        X_test = test[2] if len(test) == 3 else None
        if np.asarray(Z_test).shape[1:] != (learner_dim,):
            raise DataError(f"test latents have shape {np.shape(Z_test)}; the learner reads the pool as (n, "
                            f"{learner_dim}).")

    seeds = np.random.SeedSequence(seed)
    select_rng = np.random.default_rng(seeds.spawn(1)[0])
    learner_seeds = seeds.spawn(rounds + 1)
    stop_rng = np.random.default_rng(seeds.spawn(1)[0])
    names = [getattr(c, "name", "") or type(c).__name__ for c in stopping]
    if len(set(names)) != len(names):
        raise ValueError(f"stopping criteria must have distinct names; got {names}.")
    cache: dict = {}
    history = History()

    def ctx(fitted):
        return QueryContext(pool=pool.view(), learner=fitted, encoder=encoder, inputs=inputs, cache=cache,
                            learner_mean=learner_space)

    def learner_view():
        view = pool.view()
        return view if learner_space is None else dataclasses.replace(view, mean=learner_space, log_var=None)

    first = initial_strategy.select(ctx(None), int(initial), select_rng)
    pool.add_labels(first, oracle.label(first))
    history.initial = first.tolist()

    for r in range(int(rounds) + 1):
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        Z, y = pool.labeled_data()
        if learner_space is not None:
            Z = learner_space[pool.labeled_indices]
        params = {"random_state": int(learner_seeds[r].generate_state(1)[0])} if "random_state" in learner.get_params() else {}
        extra = fit_extras(learner, learner_view(), inputs)
        fitted = learner.clone(**params).fit(Z, y, n_classes=pool.n_classes, **extra)
        seconds["fit"] = time.perf_counter() - t

        accuracy = None
        if test is not None:
            t = time.perf_counter()
            accuracy = evaluate_accuracy(fitted, Z_test, y_test, X_test)
            seconds["evaluate"] = time.perf_counter() - t

        stop_report = None
        if stopping:
            t = time.perf_counter()
            view = learner_view()
            stop_report = {}
            for name, criterion in zip(names, stopping):
                fired = bool(criterion.update(view, fitted, stop_rng))
                stop_report[name] = {"fired": fired, "value": criterion.last_value_}
                if fired and name not in history.stopped:
                    history.stopped[name] = len(y)
            seconds["stopping"] = time.perf_counter() - t
        halt = halt_on_stop and bool(history.stopped)

        queried: list[int] = []
        if r < rounds and not halt:
            t = time.perf_counter()
            round_ctx = ctx(fitted)
            chosen = strategy.select(round_ctx, int(batch), select_rng)
            total = time.perf_counter() - t
            seconds["score"] = round_ctx.timings.get("score", 0.0)
            seconds["select"] = total - seconds["score"]
            t = time.perf_counter()
            pool.add_labels(chosen, oracle.label(chosen))
            seconds["label"] = time.perf_counter() - t
            queried = chosen.tolist()
            info = getattr(strategy, "last_info_", None)
            info = dict(info) if info else None
        else:
            info = None
        record = RoundRecord(
            round=r, n_labeled=len(y), accuracy=accuracy, seconds=seconds,
            class_counts=np.bincount(y, minlength=pool.n_classes).tolist(), queried=queried,
            strategy_info=info, stopping=stop_report,
        )
        history.rounds.append(record)
        if on_round is not None:
            on_round(record)
        if halt:
            break
    return history
