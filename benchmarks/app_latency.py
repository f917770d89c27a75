"""How long does a person wait between two batches in the labeling app? MNIST (the 60k training pool),
a person simulated in headless Chromium who types each item's true digit, one key every --pace seconds.
For every batch, the page measures the time from the key press of the batch's last label to the next
batch being on screen (``shown``) and to all its images being decoded (``images``). The first batch
is random (shown while the encoder loads); each of the --batches transitions after it is counted.

Each encoder runs in the same session: the conv VAE latents (30-d, cached) and, as the baseline, the
raw pixels (784-d, the ``identity`` encoder), so the ratio shows what latent space buys. With ``--preset``
the page runs that preset's pipeline (say ``label-efficient``: MaxHerding batches, Poisson learning over
the UMAP and the unrefined latents).

    python benchmarks/app_latency.py --data-dir ../shared/datasets --batches 10 --screenshot docs/labeling-app.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_json  # noqa: E402

from latal.app.process import LabelServer  # noqa: E402
from latal.data import load_dataset  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def run_encoder(browser, encoder: str, args, truth, screenshot: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        server = LabelServer("--dataset", "mnist", "--data-dir", args.data_dir, "--db", f"{tmp}/mnist.sqlite",
                             "--encoder", encoder, "--batch", str(args.batch),
                             *(["--preset", args.preset] if args.preset else ["--strategy", args.strategy]),
                             *(["--audit", str(args.audit)] if args.audit else []),
                             ready_timeout=3600)
        ready = time.perf_counter() - t0
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url)
            page.wait_for_selector("#grid .card img")
            for b in range(args.batches):
                before = page.evaluate("window.latal.timings.length")
                ids = [int(x) for x in page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.item)")]
                for item in ids:
                    page.keyboard.press(str(truth[item]))
                    page.wait_for_timeout(args.pace * 1000)
                page.wait_for_function(f"window.latal.timings.length > {before}", timeout=60000)
            if screenshot:
                for item in [int(x) for x in page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.item)")][:7]:
                    page.keyboard.press(str(truth[item]))
                    page.wait_for_timeout(args.pace * 1000)
                page.wait_for_timeout(3500)  # the progress panel refreshes every 3 s
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot, full_page=True)
            timings = page.evaluate("window.latal.timings")
            errors = page.evaluate("window.latal.errors")
            progress = server.get("/api/progress")
        finally:
            server.stop()
    shown = [t["shown_ms"] for t in timings]
    images = [t["images_ms"] for t in timings]
    rounds = [r for r in progress["rounds"] if r.get("fit_seconds") is not None]
    model = [r["fit_seconds"] + r["select_seconds"] for r in rounds]
    cv = [r for r in rounds if r.get("cv_accuracy") is not None]
    return {
        "encoder": encoder, "batches": len(timings), "server_ready_seconds": ready,
        "shown_ms": shown, "images_ms": images, "provisional": [t["provisional"] for t in timings],
        "median_shown_ms": statistics.median(shown), "max_shown_ms": max(shown),
        "median_images_ms": statistics.median(images), "median_fit_select_ms": 1000 * statistics.median(model),
        "labels": progress["labels"], "last_cv_accuracy": cv[-1]["cv_accuracy"] if cv else None,
        "errors": errors,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--encoders", nargs="+", default=["conv_vae", "identity"])
    ap.add_argument("--strategy", default="margin")
    ap.add_argument("--preset", default=None,
                    help="a `latal label --preset` (its strategies and learner instead of --strategy's margin)")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--audit", type=float, default=0.0, help="latal label --audit: this share of each batch at random")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--pace", type=float, default=0.3, help="seconds between two key presses (a fast person)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--screenshot", default=None, help="save the page of the first encoder here")
    ap.add_argument("--out", default="benchmarks/results/app_latency.json")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    truth = load_dataset("mnist", args.data_dir, progress=False).y
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for k, enc in enumerate(args.encoders):
            print(f"# {enc} ...", file=sys.stderr, flush=True)
            results.append(run_encoder(browser, enc, args, truth, args.screenshot if k == 0 else None))
        browser.close()
    base = results[-1]["median_shown_ms"]
    rows = [[r["encoder"], r["batches"], f"{r['median_shown_ms']:.0f}", f"{r['max_shown_ms']:.0f}",
             f"{r['median_images_ms']:.0f}", f"{r['median_fit_select_ms']:.0f}", sum(r["provisional"]),
             f"{base / r['median_shown_ms']:.2f}x", "-" if r["last_cv_accuracy"] is None else f"{r['last_cv_accuracy']:.3f}"]
            for r in results]
    print(markdown_table(["encoder", "batches", "median ms to next batch", "max ms", "median ms to images decoded",
                          "median fit+select ms (server)", "reserve batches", f"speed-up vs {results[-1]['encoder']}",
                          "CV accuracy at end"], rows))
    write_json(args.out, "app_latency", args, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
