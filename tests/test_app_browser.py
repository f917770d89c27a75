"""The labeling page in real headless Chromium, driven by Playwright, against a real server process.

Skipped where Chromium or Playwright is missing, unless LATAL_REQUIRE_BROWSER=1 (set by .ci/run), where
their absence fails the test.
"""

import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from latal.app.process import LabelServer

CHROMIUM = os.environ.get("LATAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _require_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not Path(CHROMIUM).is_file():
        missing.append(f"chromium at {CHROMIUM}")
    if missing:
        msg = f"browser test needs {' and '.join(missing)} (apt-get install chromium; pip install playwright)"
        if os.environ.get("LATAL_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def Server(db: Path, *extra: str) -> LabelServer:
    return LabelServer("--db", str(db), "--batch", "12", "--cv-folds", "3", *extra, ready_timeout=60)


@pytest.fixture
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def batch_ids(page):
    return [int(x) for x in page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.item)")]


def test_label_a_batch_with_the_keyboard_undo_crash_and_resume(browser, tmp_path):
    db = tmp_path / "digits.sqlite"
    server = Server(db, "--stop", "budget:labels=12")  # the embedded digits, PCA latents, margin sampling
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server.url)
        page.wait_for_selector("#grid .card img")
        first = batch_ids(page)
        assert len(first) == 12 and page.evaluate("document.body.dataset.round") == "0"
        assert page.inner_text("#pipeline") == "random, then margin, in pca; learner mlp"
        keys = "0123456789"
        # a whole batch, by keyboard only
        for i in range(len(first)):
            page.keyboard.press(keys[i % 10])
        page.wait_for_function("document.body.dataset.round === '1'", timeout=20000)
        second = batch_ids(page)
        assert len(second) == 12 and not set(first) & set(second)
        assert page.locator("#grid .card.labeled").count() == 0
        # the stopping criterion fired after the first retrain (12 labels), and the page says so
        page.wait_for_selector("#stop-banner:not([hidden])", timeout=10000)
        assert "fired at 12 labels" in page.inner_text("#stop-banner")
        # the learner behind this batch predicts every item: the side panel's download
        with page.expect_download() as download:
            page.click("#export-predictions")
        assert download.value.suggested_filename == "digits-predictions.csv"
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("item,source,label,predicted,confidence,p_0,") and len(lines) == 1 + 1797
        assert sum(1 for line in lines[1:] if line.split(",")[2]) == 12  # the labeled items carry their label
        # a click shows the image full size; Escape closes it
        page.click(f"#grid .card[data-item='{second[0]}'] img")
        assert page.is_visible("#modal") and f"api/items/{second[0]}/image" in page.get_attribute("#modal-img", "src")
        page.keyboard.press("Escape")
        assert not page.is_visible("#modal")
        counts = page.eval_on_selector_all("[data-class-count]", "els => els.map(e => +e.textContent)")
        assert sum(counts) == 12 and counts[:2] == [2, 2]  # keys 0..9 then 0, 1: per-class counts on the page
        # three more labels, then undo the last one
        for k in "123":
            page.keyboard.press(k)
        page.keyboard.press("Backspace")
        page.wait_for_function("window.latal.acked.some(e => e.kind === 'undo')", timeout=10000)
        assert page.locator("#grid .card.labeled").count() == 2
        assert page.locator(f"#grid .card[data-item='{second[2]}']").get_attribute("data-label") == ""
        page.wait_for_function("document.querySelector('#count').textContent.startsWith('14 /')", timeout=10000)
        # the model's guess under the undone (outlined) item; Tab accepts it as the label
        card = page.locator(f"#grid .card[data-item='{second[2]}']")
        guess = card.locator(".guess")
        assert guess.is_visible() and guess.inner_text().startswith("model: ")
        guessed = guess.inner_text().split(": ")[1].split(" ")[0]
        page.keyboard.press("Tab")
        page.wait_for_function("document.querySelector('#count').textContent.startsWith('15 /')", timeout=10000)
        assert card.get_attribute("data-label") == guessed and not guess.is_visible()
        acked = page.evaluate("window.latal.acked")
        assert acked[-1]["item"] == second[2] and acked[-1]["label"] == guessed
        assert not page.evaluate("window.latal.errors")
    finally:
        server.kill()  # SIGKILL: no shutdown code runs

    undone = {e["undone"] for e in acked if e["kind"] == "undo"}
    expected = {}
    for e in acked:
        if e["kind"] in ("label", "relabel") and e["event"] not in undone:
            expected[e["item"]] = e["label"]
    assert len(expected) == 15

    server = Server(db)
    try:
        exported = {row["item"]: row["label"] for row in server.get("/api/export?format=json")["labels"]}
        assert exported == expected  # every acknowledged label, and the undone one absent
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#grid .card img")
        # the same batch as before the crash, without the two items labeled since
        assert batch_ids(page) == [i for i in second if i not in expected]
        assert page.evaluate("document.body.dataset.round") == "1"
        page.wait_for_function("document.querySelector('#count').textContent.startsWith('15 /')", timeout=10000)
    finally:
        server.stop()


def test_token_protects_a_non_local_bind(browser, tmp_path):
    server = Server(tmp_path / "t.sqlite", "--host", "0.0.0.0", "--token", "tok123")
    try:
        base = server.url.split("?")[0]
        assert server.url.endswith("?token=tok123")
        with pytest.raises(urllib.request.HTTPError) as err:
            urllib.request.urlopen(base + "api/progress", timeout=10)
        assert err.value.code == 401
        page = browser.new_page()
        page.goto(server.url)  # the printed address works; the token leaves the address bar
        page.wait_for_selector("#grid .card img")
        assert "token" not in page.url
        page.keyboard.press("5")
        page.wait_for_function("window.latal.acked.length === 1", timeout=10000)
        assert page.evaluate("document.querySelector('#grid img').naturalWidth") > 0  # the image came through
    finally:
        server.stop()


def test_check_the_labels_relabel_keep_undo_and_back(browser, tmp_path):
    """"check labels" on the page: the wrong labels are listed with the class the learner fitted without them
    predicts; a key relabels the outlined one, Tab keeps it, Backspace undoes, Escape goes back to the batch."""
    import numpy as np
    from sklearn.datasets import load_digits

    from latal.cli import main

    db = tmp_path / "digits.sqlite"
    assert main(["label", "--db", str(db), "--init-only"]) == 0
    y = load_digits().target  # the embedded digits: item i is load_digits()'s image i
    rng = np.random.default_rng(0)
    known = rng.choice(y.size, 200, replace=False)
    wrong = {int(i): int((y[i] + 1 + rng.integers(9)) % 10) for i in known[:5]}
    f = tmp_path / "known.csv"
    f.write_text("item,label\n" + "".join(f"{i},{wrong.get(int(i), y[i])}\n" for i in known))
    assert main(["import", str(f), "--db", str(db)]) == 0
    server = Server(db)
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server.url)
        page.wait_for_selector("#grid .card img")
        batch = batch_ids(page)
        # the imported labels brought a retrain at once; its accuracy estimate counts the labels it contradicts
        page.wait_for_function("/^check labels \\(\\d+ contradicted at 200\\)$/.test(document.querySelector('#review')"
                               ".textContent)", timeout=30000)
        assert int(page.inner_text("#review").split("(")[1].split()[0]) >= len(wrong)
        page.click("#review")
        page.wait_for_function("document.body.dataset.mode === 'review' && document.querySelectorAll('#grid .card').length > 0",
                               timeout=60000)
        assert page.inner_text("#batch-title").startswith("labels to check: ")
        assert "of the 200 checked are contradicted" in page.inner_text("#batch-title")
        listed = batch_ids(page)
        assert set(wrong) <= set(listed)  # every wrong label is listed
        cards = {i: page.locator(f"#grid .card[data-item='{i}']") for i in listed}
        for i in wrong:
            assert cards[i].locator(".lab").inner_text() == f"labeled: {wrong[i]}"
            assert cards[i].locator(".guess").inner_text().startswith("model: ")
        # the outlined (first) card relabeled with its true class, by key
        first = listed[0]
        page.keyboard.press(str(y[first]))
        page.wait_for_function(f"window.latal.acked.some(e => e.item === {first} && e.kind === 'relabel')", timeout=10000)
        given = cards[first].locator(".lab").inner_text()
        assert given.endswith(f"\u2192 {y[first]}") or given == f"kept: {y[first]}"
        # the next one kept as given (Tab), then that undone (Backspace): it shows its label as given again
        second = listed[1]
        page.keyboard.press("Tab")
        page.wait_for_function(f"window.latal.acked.filter(e => e.item === {second}).length === 1", timeout=10000)
        assert cards[second].locator(".lab").inner_text().startswith("kept: ")
        page.keyboard.press("Backspace")
        page.wait_for_function("window.latal.acked.some(e => e.kind === 'undo')", timeout=10000)
        page.wait_for_function(f"document.querySelector(\"#grid .card[data-item='{second}'] .lab\").textContent"
                               ".startsWith('labeled: ')", timeout=10000)
        # Escape: back to the same batch
        page.keyboard.press("Escape")
        page.wait_for_function("document.body.dataset.mode === 'label' && document.querySelectorAll('#grid .card').length > 0",
                               timeout=10000)
        assert batch_ids(page) == batch
        # "+": the nearest unlabeled items to the outlined one; a key labels them, Escape goes back again
        page.keyboard.press("+")
        page.wait_for_function("document.body.dataset.mode === 'similar'", timeout=10000)
        assert page.inner_text("#batch-title").startswith(f"more like item {batch[0]}: the 24 nearest unlabeled items")
        near = batch_ids(page)
        assert len(near) == 24 and not set(near) & set(known.tolist())
        page.keyboard.press(str(y[near[0]]))
        page.wait_for_function(f"window.latal.acked.some(e => e.item === {near[0]} && e.kind === 'label')", timeout=10000)
        page.keyboard.press("Escape")
        page.wait_for_function("document.body.dataset.mode === 'label'", timeout=10000)
        page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {len(batch)}", timeout=10000)
        assert not page.evaluate("window.latal.errors")
        labels = {row["item"]: row["label"] for row in server.get("/api/export?format=json")["labels"]}
        assert len(labels) == 201 and labels[first] == str(y[first]) and labels[near[0]] == str(y[near[0]])
        assert labels[second] == str(wrong.get(second, y[second]))  # the keep undone: as imported
    finally:
        server.stop()


def test_audit_items_show_no_guess_and_give_the_estimate(browser, tmp_path):
    db = tmp_path / "audit.sqlite"
    server = Server(db, "--audit", "0.25", "--stop", "accuracy:target=0.01")  # 3 of each 12 after the first drawn at random
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server.url)
        page.wait_for_selector("#grid .card img")
        assert page.inner_text("#pipeline").endswith("25% of each batch at random, held out to test it")
        from sklearn.datasets import load_digits

        y = load_digits().target  # the true labels: whether the model is right on the audit items is then not luck
        for rnd in (1, 2):
            for item in batch_ids(page):
                page.keyboard.press(str(y[item]))
            page.wait_for_function(f"document.body.dataset.round === '{rnd}'", timeout=20000)
        from latal.app.store import ProjectStore

        store = ProjectStore.open(db)  # the round's audit items, from the database
        audit = set(store.rounds()[-1]["audit"])
        store.close()
        ids = batch_ids(page)
        assert len(audit) == 3 and audit <= set(ids)
        for item in ids:  # the model's guess is shown on every item but the audit ones
            has_guess = page.locator(f"#grid .card[data-item='{item}'] .guess").is_visible()
            assert has_guess == (item not in audit)
        page.wait_for_function("document.querySelector('#acc-text').textContent.includes('random items held out')",
                               timeout=20000)
        assert "On 3 random items held out of training" in page.inner_text("#acc-text")
        assert page.locator("#acc-svg circle.audit").count() >= 1
        page.wait_for_selector("#stop-banner:not([hidden])", timeout=10000)  # one of 3 right clears a 1 % bound
        assert "the lower bound of the model's accuracy has reached the target" in page.inner_text("#stop-banner")
        assert not page.evaluate("window.latal.errors")
    finally:
        server.stop()
