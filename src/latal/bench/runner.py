"""Run a protocol: every arm x repeat as its own experiment, in parallel processes, each finished run kept
on disk at once (an interrupted benchmark resumes where it stopped)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from latal.bench.protocol import Arm, Protocol
from latal.experiment import ExperimentConfig, prepare, run_experiment

_PREPARED: dict = {}


def init_worker(threads: int) -> None:
    """Process initialiser: ``threads`` torch threads per worker (1 when the cores are shared out)."""
    os.environ["LATAL_THREADS"] = str(threads)


def run_one(cfg_dict: dict) -> dict:
    """One experiment; data and latents are prepared once per process (and come from the encoder cache)."""
    cfg = ExperimentConfig(**cfg_dict)
    key = (cfg.dataset, cfg.data_dir, cfg.encoder, cfg.refine, cfg.pool_size, cfg.split_seed, cfg.test_fraction)
    if key not in _PREPARED:
        _PREPARED[key] = prepare(cfg)
    return run_experiment(cfg, prepared=_PREPARED[key])


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def arm_config(p: Protocol, arm: Arm, repeat: int, data_dir: str | None) -> ExperimentConfig:
    return ExperimentConfig(
        dataset=p.dataset, data_dir=data_dir, encoder=arm.encoder or p.encoder, learner=arm.learner or p.learner,
        strategy=arm.strategy, initial_strategy=arm.initial_strategy or p.initial_strategy, initial=p.initial,
        batch=p.batch, rounds=p.rounds, seed=p.seed + repeat, pool_size=p.pool_size, refine=p.refine)


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def run_protocol(p: Protocol, out, *, jobs: int = 1, data_dir: str | None = None, log=None) -> list[dict]:
    """Run every arm ``p.repeats`` times; returns the runs (``{"arm", "repeat", "result"}``). Runs already
    in ``out/runs`` with the same configuration are kept, not repeated."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    runs_dir = Path(out) / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    tasks, done = [], []
    for arm in p.arms:
        for rep in range(p.repeats):
            cfg = arm_config(p, arm, rep, data_dir)
            path = runs_dir / f"{slug(arm.name)}__{rep}.json"
            if path.is_file():
                try:
                    kept = json.loads(path.read_text())
                    if kept["config"] == json.loads(json.dumps(cfg.to_dict())):
                        done.append(kept)
                        continue
                except (ValueError, KeyError):
                    pass  # a damaged or stale file is run again
            tasks.append((arm, rep, cfg, path))
    if done:
        log(f"# {len(done)} runs kept from {runs_dir}, {len(tasks)} to go")
    # encode each distinct data/encoder once, here, so parallel workers find it in the cache
    seen = set()
    for _, _, cfg, _ in tasks:
        key = (cfg.encoder, cfg.refine, cfg.pool_size)
        if key not in seen:
            seen.add(key)
            t = time.perf_counter()
            prepare(cfg, progress=False)
            log(f"# latents ready: {cfg.encoder} ({time.perf_counter() - t:.0f} s)")
    total = len(done) + len(tasks)

    def finish(arm, rep, cfg, path, result, seconds):
        rec = {"arm": arm.name, "repeat": rep, "config": cfg.to_dict(), "seconds": seconds, "result": result}
        _write_atomic(path, rec)
        done.append(rec)
        last = result["rounds"][-1]
        log(f"[{len(done)}/{total}] {arm.name} #{rep}: {last['accuracy']:.4f} at {last['n_labeled']} labels "
            f"({seconds:.0f} s)")

    if jobs <= 1:
        for arm, rep, cfg, path in tasks:
            t = time.perf_counter()
            finish(arm, rep, cfg, path, run_one(cfg.to_dict()), time.perf_counter() - t)
    else:
        # spawned, not forked: a fork after torch has started its thread pool here (the encoders were
        # prepared above) deadlocks the workers
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                                 initargs=(max(1, (os.cpu_count() or 1) // jobs),)) as ex:
            started = {ex.submit(run_one, cfg.to_dict()): (arm, rep, cfg, path, time.perf_counter())
                       for arm, rep, cfg, path in tasks}
            for fut in as_completed(started):
                arm, rep, cfg, path, t = started[fut]
                finish(arm, rep, cfg, path, fut.result(), time.perf_counter() - t)
    order = {a.name: i for i, a in enumerate(p.arms)}
    return sorted(done, key=lambda r: (order.get(r["arm"], 99), r["repeat"]))
