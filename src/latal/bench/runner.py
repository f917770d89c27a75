"""Run a protocol: every dataset x arm x repeat as its own run, in parallel processes, each finished run
kept on disk at once (an interrupted benchmark resumes where it stopped)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from latal.bench import kinds
from latal.bench.protocol import Protocol

#: one experiment of the active-learning loop from an :class:`~latal.experiment.ExperimentConfig` dict
run_one = kinds.run_loop


def init_worker(threads: int) -> None:
    """Process initialiser: ``threads`` torch threads per worker (1 when the cores are shared out)."""
    os.environ["LATAL_THREADS"] = str(threads)


def _run_task(kind: str, config: dict) -> tuple[dict, float]:
    """One run and its own duration, measured where it runs (not counting time queued for a worker)."""
    t = time.perf_counter()
    result = kinds.run_config(kind, config)
    return result, time.perf_counter() - t


def run_seconds(rec: dict) -> float:
    """A kept run's duration. Runs written before durations were measured in the worker recorded the time
    from submission (queue wait included); for those, the sum of the loop's own phase timings stands in."""
    if rec.get("timed_in") == "worker":
        return float(rec["seconds"])
    res = rec.get("result", {})
    phases = [sum(v for v in r.get("seconds", {}).values() if isinstance(v, (int, float)))
              for r in res.get("rounds", [])]
    if phases:
        t = res.get("timing", {})
        return float(sum(phases) + t.get("load_seconds", 0.0) + t.get("encode_seconds", 0.0))
    return float(rec.get("seconds", 0.0))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def _same(kept: dict, config: dict) -> bool:
    return kept == json.loads(json.dumps(config, default=str))


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def run_protocol(p: Protocol, out, *, jobs: int = 1, data_dir: str | None = None, log=None) -> list[dict]:
    """Run every arm ``p.repeats`` times on each dataset; returns the runs (``{"dataset", "arm", "repeat",
    "config", "seconds", "result"}``). Runs already in ``out/runs`` with the same configuration are kept."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    runs_dir = Path(out) / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    make = kinds.CONFIG[p.kind]
    tasks, done = [], []
    for dataset in p.datasets:
        for arm in p.arms:
            for rep in range(p.repeats):
                cfg = make(p, dataset, arm, rep, data_dir)
                stem = f"{slug(arm.name)}__{rep}" if len(p.datasets) == 1 else f"{slug(dataset)}__{slug(arm.name)}__{rep}"
                path = runs_dir / f"{stem}.json"
                if path.is_file():
                    try:
                        kept = json.loads(path.read_text())
                        if _same(kept["config"], cfg):
                            kept.setdefault("dataset", dataset)
                            done.append(kept)
                            continue
                    except (ValueError, KeyError):
                        pass  # a damaged or stale file is run again
                tasks.append((dataset, arm, rep, cfg, path))
    if done:
        log(f"# {len(done)} runs kept from {runs_dir}, {len(tasks)} to go")
    if p.kind == "loop":
        # encode each distinct data/encoder once, here, so that parallel workers find it in the cache
        seen = set()
        for _, _, _, cfg, _ in tasks:
            key = kinds.loop_prepare_key(cfg)
            if key not in seen:
                seen.add(key)
                t = time.perf_counter()
                kinds.prepare_loop(cfg)
                log(f"# latents ready: {cfg['dataset']} / {cfg['encoder']} ({time.perf_counter() - t:.0f} s)")
    total, start, n_before = len(done) + len(tasks), time.perf_counter(), len(done)

    def finish(dataset, arm, rep, cfg, path, result, seconds):
        rec = {"dataset": dataset, "arm": arm.name, "repeat": rep, "config": cfg, "seconds": seconds,
               "timed_in": "worker", "result": result}
        _write_atomic(path, rec)
        done.append(rec)
        last = result["rounds"][-1]
        elapsed = time.perf_counter() - start
        left = len(tasks) - (len(done) - n_before)
        eta = elapsed / (len(done) - n_before) * left
        where = f"{dataset} " if len(p.datasets) > 1 else ""
        log(f"[{len(done)}/{total}] {where}{arm.name} #{rep}: {last['accuracy']:.4f} at {last['n_labeled']} labels "
            f"({seconds:.0f} s; elapsed {_clock(elapsed)}, about {_clock(eta)} left)")

    if jobs <= 1:
        for dataset, arm, rep, cfg, path in tasks:
            finish(dataset, arm, rep, cfg, path, *_run_task(p.kind, cfg))
    else:
        # spawned, not forked: a fork after torch has started its thread pool here (the encoders were
        # prepared above) deadlocks the workers
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                                 initargs=(max(1, (os.cpu_count() or 1) // jobs),)) as ex:
            started = {ex.submit(_run_task, p.kind, cfg): (dataset, arm, rep, cfg, path)
                       for dataset, arm, rep, cfg, path in tasks}
            for fut in as_completed(started):
                finish(*started[fut], *fut.result())
    order = {a.name: i for i, a in enumerate(p.arms)}
    dorder = {d: i for i, d in enumerate(p.datasets)}
    return sorted(done, key=lambda r: (dorder.get(r["dataset"], 99), order.get(r["arm"], 99), r["repeat"]))
