// latal labeling page: plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("latal-token", params.get("token"));
  history.replaceState(null, "", location.pathname);  // keep the token out of the address bar and history
}
const token = sessionStorage.getItem("latal-token");
let client = sessionStorage.getItem("latal-client");
if (!client) {
  client = "c" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
  sessionStorage.setItem("latal-client", client);
}

const state = {
  project: null, items: [], focus: 0, round: -1, provisional: false,
  keyToClass: {}, chain: Promise.resolve(), inflight: 0, loading: false,
  batchStart: null,
  mode: "label",  // "label": the query batch; "review": the labels a model fitted without them contradicts;
                  // "similar": the nearest unlabeled items to one item (more like it)
};
// what tests and benchmarks read: every acknowledged event and the batch-to-batch latencies
window.latal = { acked: [], timings: [], errors: [], rounds: [] };

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (token) h["X-Latal-Token"] = token;
  return h;
}

async function api(path, body) {
  const opts = body === undefined ? { headers: headers(false) } : { method: "POST", headers: headers(true), body: JSON.stringify(body) };
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = { error: resp.statusText }; }
  if (!resp.ok) throw new Error(data && data.error ? data.error : resp.statusText);
  return data;
}

function annotator() {
  const v = $("annotator").value.trim();
  return v || "annotator";
}

function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.hidden = false;
  window.latal.errors.push(msg);
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---------------------------------------------------------------- rendering
function imageUrl(id) { return `api/items/${id}/image`; }

function render() {
  const grid = $("grid");
  grid.replaceChildren();
  state.items.forEach((it, i) => {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.item = it.id;
    const img = document.createElement("img");
    img.src = imageUrl(it.id);
    img.alt = `item ${it.id}`;
    img.addEventListener("click", (e) => { e.stopPropagation(); setFocus(i); openModal(); });
    const lab = document.createElement("span");
    lab.className = "lab";
    const guess = document.createElement("span");
    guess.className = "guess";
    if (it.guess) {
      guess.textContent = `model: ${it.guess.label} \u00b7 ${Math.round(100 * it.guess.confidence)}%`;
      guess.title = reviewing()
        ? `the class the learner fitted without this label predicts; it gives the label ${it.given} ${Math.round(100 * it.p_label)}%`
        : "the last model's class for this item and its probability; Tab accepts it";
    }
    if (reviewing()) lab.title = `labeled ${it.given} by ${it.annotator}`;
    card.append(img, lab, guess);
    card.addEventListener("click", () => setFocus(i));
    grid.append(card);
    paint(i);
  });
  $("empty").hidden = state.items.length > 0;
  $("provisional").hidden = !state.provisional || away();
  $("batch-title").textContent = reviewing()
    ? (state.review ? `labels to check: ${state.items.length} of the ${state.review.reviewed} checked are contradicted` : "checking the labels")
    : state.mode === "similar" ? similarTitle()
    : (state.round >= 0 ? `round ${state.round} batch` : "first batch");
  $("label-hint").hidden = reviewing();
  $("review-hint").hidden = !reviewing();
  $("review-back").hidden = !away();
  document.body.dataset.mode = state.mode;
  document.body.dataset.round = String(state.round);
  highlight();
}

function paint(i) {
  const it = state.items[i];
  const card = $("grid").children[i];
  if (!card) return;
  card.classList.toggle("labeled", !!it.label);
  card.classList.toggle("skipped", !it.label && it.skipped);
  card.classList.toggle("pending", !!it.pending);
  card.dataset.label = it.label || "";
  if (reviewing()) {  // the label given, and what the person decided: kept, or changed to another class
    card.querySelector(".lab").textContent = !it.label ? `labeled: ${it.given}`
      : (it.label === it.given ? `kept: ${it.given}` : `${it.given} \u2192 ${it.label}`);
    card.querySelector(".guess").hidden = false;
    return;
  }
  card.querySelector(".lab").textContent = it.label ? it.label : (it.skipped ? "skipped" : "");
  card.querySelector(".guess").hidden = !it.guess || !!it.label || !!it.skipped;
}

function reviewing() { return state.mode === "review"; }
function away() { return state.mode !== "label"; }  // not on the query batch: it stays leased, and comes back on Esc

function highlight() {
  [...$("grid").children].forEach((c, i) => c.classList.toggle("focus", i === state.focus));
  const card = $("grid").children[state.focus];
  if (card) card.scrollIntoView({ block: "nearest" });
}

function setFocus(i) {
  if (!state.items.length) return;
  state.focus = Math.max(0, Math.min(state.items.length - 1, i));
  highlight();
}

function nextOpen(from) {
  for (let k = 1; k <= state.items.length; k++) {
    const i = (from + k) % state.items.length;
    const it = state.items[i];
    if (!it.label && !it.skipped) return i;
  }
  return -1;
}

function allDone() { return state.items.length > 0 && state.items.every((it) => it.label || it.skipped); }

// ---------------------------------------------------------------- actions
function enqueue(fn) {
  state.inflight++;
  state.chain = state.chain.then(fn).catch((e) => toast(e.message)).finally(() => {
    state.inflight--;
    if (state.inflight === 0 && !away() && allDone()) loadNext();
  });
}

function labelFocused(cls) {
  const i = state.focus;
  const it = state.items[i];
  if (!it) return;
  const before = { label: it.label, skipped: it.skipped };
  const started = performance.now();
  it.label = cls; it.skipped = false; it.pending = true;
  paint(i);
  const n = nextOpen(i);
  if (n >= 0) setFocus(n);
  if (!away() && allDone()) state.batchStart = started;  // the last label of the batch: the clock for the next one
  enqueue(async () => {
    try {
      const r = await api("api/label", { item: it.id, label: cls, annotator: annotator(), client });
      window.latal.acked.push({ event: r.event, item: it.id, label: cls, kind: r.kind });
      it.pending = false; paint(i);
    } catch (e) {
      Object.assign(it, before, { pending: false }); paint(i);
      throw e;
    }
    refreshProgress();
  });
}

function skipFocused() {
  const i = state.focus;
  const it = state.items[i];
  if (!it) return;
  if (reviewing()) { setFocus(i + 1); return; }  // skipping a labeled item would take its label away: move on
  it.skipped = true; it.label = null; it.pending = true;
  paint(i);
  const n = nextOpen(i);
  if (n >= 0) setFocus(n);
  if (allDone()) state.batchStart = performance.now();
  enqueue(async () => {
    try {
      const r = await api("api/skip", { item: it.id, annotator: annotator(), client });
      window.latal.acked.push({ event: r.event, item: it.id, label: null, kind: "skip" });
      it.pending = false; paint(i);
    } catch (e) { it.skipped = false; it.pending = false; paint(i); throw e; }
  });
}

function undo() {
  enqueue(async () => {
    const r = await api("api/undo", { annotator: annotator(), client });
    window.latal.acked.push({ event: r.event, item: r.item.id, kind: "undo", undone: r.undone.event });
    let i = state.items.findIndex((it) => it.id === r.item.id);
    if (reviewing()) {  // a relabel undone: the item shows its label as given again
      if (i >= 0) {
        const it = state.items[i];
        Object.assign(it, { label: r.item.label === it.given ? null : r.item.label, pending: false });
        paint(i); setFocus(i);
      }
      refreshProgress();
      return;
    }
    if (i < 0) {  // an item of an earlier batch: bring it back into view
      state.items.unshift({ id: r.item.id, label: r.item.label, skipped: r.item.skipped, guess: r.item.guess || null });
      render();
      i = 0;
    } else {
      Object.assign(state.items[i], { label: r.item.label, skipped: r.item.skipped, pending: false });
      paint(i);
    }
    setFocus(i);
    refreshProgress();
  });
}

async function loadNext() {
  if (state.loading) return;
  state.loading = true;
  const started = state.batchStart;
  try {
    for (;;) {
      const n = state.project ? state.project.batch : 20;
      const r = await api(`api/next?client=${encodeURIComponent(client)}&n=${n}&wait=2`);
      if (away()) break;  // checking labels or labeling similar items; the batch is loaded again afterwards
      if (r.items.length) {
        const fresh = r.round !== state.round || r.provisional !== state.provisional || !sameItems(r.items);
        state.items = r.items.map((it) => ({ id: it.id, label: it.label, skipped: it.skipped, guess: it.guess || null }));
        state.round = r.round; state.provisional = r.provisional;
        state.focus = Math.max(0, nextOpen(-1));
        render();
        showEmpty(null);
        if (fresh && started !== null) {
          const shown = performance.now();
          await Promise.all([...document.querySelectorAll("#grid img")].map((im) => im.decode().catch(() => null)));
          window.latal.timings.push({ round: r.round, provisional: r.provisional, shown_ms: shown - started,
                                      images_ms: performance.now() - started });
        }
        state.batchStart = null;
        break;
      }
      state.items = []; render();
      if (r.status === "budget_reached") { showEmpty("The label budget is used up. Export the labels, or restart with a larger --budget."); break; }
      if (r.status === "pool_exhausted") { showEmpty("Every item is labeled or skipped."); break; }
      showEmpty(r.status === "error" ? "The model failed; see the server log." : "Preparing the next batch\u2026");
      await new Promise((res) => setTimeout(res, 300));
    }
  } catch (e) {
    toast(e.message);
    setTimeout(loadNext, 1500);
  } finally {
    state.loading = false;
    refreshProgress();
  }
}

function sameItems(items) {
  return items.length === state.items.length && items.every((it, i) => it.id === state.items[i].id);
}

function showEmpty(msg) {
  $("empty").hidden = !msg;
  $("empty").textContent = msg || "";
}

// ---------------------------------------------------------------- checking the labels
async function startReview() {
  if (reviewing()) return;
  state.mode = "review"; state.review = null; state.items = []; state.focus = 0;
  render();
  showEmpty("Checking the labels: the learner is fitted once per fold of them, each time without that fold\u2026");
  try {
    let r = await api("api/review", {});
    while (r.status === "running") {
      showEmpty(`Checking the ${r.labels} labels: the learner is fitted once per fold, each time without that fold's labels (${r.folds_done} of ${r.folds} done)\u2026`);
      await new Promise((res) => setTimeout(res, 500));
      if (!reviewing()) return;
      r = await api("api/review");
    }
    if (!reviewing()) return;
    if (r.status !== "done") { showEmpty(r.error || "The check did not run."); return; }
    state.review = r;
    state.items = r.suspects.map((x) => ({ id: x.item, given: x.label, annotator: x.annotator, p_label: x.p_label,
      label: x.checked_by ? x.now : (x.rechecked ? x.label : null), skipped: false, guess: { label: x.predicted, confidence: x.confidence } }));
    state.focus = Math.max(0, nextOpen(-1));
    render();
    if (!state.items.length) showEmpty(`No label is contradicted: each of the ${r.reviewed} labels checked agrees with the learner fitted without it.`);
  } catch (e) {
    toast(e.message);
    if (reviewing()) showEmpty(e.message);
  }
}

function backToBatch() {
  if (!away()) return;
  state.mode = "label"; state.review = null; state.similarOf = null; state.items = [];
  render();
  loadNext();
}

// ---------------------------------------------------------------- more like this one
function similarTitle() {
  const src = state.similarOf;
  if (!src) return "finding similar items";
  return `more like item ${src.id}${src.label ? ` (labeled ${src.label})` : ""}: the ${state.items.length} nearest unlabeled items`;
}

async function startSimilar() {
  const it = state.items[state.focus];
  if (!it) return;
  try {
    const r = await api(`api/items/${it.id}/similar?k=24`);
    state.mode = "similar"; state.review = null; state.similarOf = r.item;
    state.items = r.items.map((x) => ({ id: x.id, label: x.label, skipped: x.skipped, guess: x.guess || null }));
    state.focus = 0;
    render();
    showEmpty(state.items.length ? null : "Every item is labeled or skipped.");
  } catch (e) { toast(e.message); }
}

// ---------------------------------------------------------------- full size
function openModal() {
  const it = state.items[state.focus];
  if (!it) return;
  $("modal-img").src = imageUrl(it.id);
  $("modal-caption").textContent = `item ${it.id}`;
  $("modal").hidden = false;
  api(`api/items/${it.id}`).then((d) => { $("modal-caption").textContent = `item ${it.id} \u00b7 ${d.source}`; }).catch(() => {});
}
function closeModal() { $("modal").hidden = true; }

// ---------------------------------------------------------------- progress
let progressTimer = null;
async function refreshProgress() {
  clearTimeout(progressTimer);
  try {
    const p = await api("api/progress");
    $("count").textContent = `${p.labels} / ${p.budget} labels`;
    $("bar-fill").style.width = `${Math.min(100, (100 * p.labels) / Math.max(1, p.budget))}%`;
    $("round").textContent = p.round;
    const model = $("model");
    model.textContent = p.error ? "model error" : (p.pending ? "training\u2026" : p.model);
    model.className = "model" + (p.error ? " error" : (p.pending ? " training" : ""));
    if (p.error) model.title = p.error;
    for (const [name, n] of Object.entries(p.per_class)) {
      const el = document.querySelector(`[data-class-count="${CSS.escape(name)}"]`);
      if (el) el.textContent = n;
    }
    const stops = Object.entries(p.stopped || {});
    const banner = $("stop-banner");
    banner.hidden = stops.length === 0;
    const why = (name) => name.startsWith("accuracy")
      ? "on the random audit items, the lower bound of the model's accuracy has reached the target."
      : "more labels are unlikely to change the model much.";
    banner.textContent = stops.map(([name, n]) => `Stopping criterion \u201c${name}\u201d fired at ${n} labels: ${why(name)}`).join(" ");
    window.latal.rounds = p.rounds;
    drawPlot(p.rounds);
    // the last estimate's held-out predictions already name the labels they contradict: say how many
    const est = p.rounds.filter((r) => r.cv_contradicted !== null && r.cv_contradicted !== undefined).pop();
    $("review").textContent = est && est.cv_contradicted ? `check labels (${est.cv_contradicted} contradicted at ${est.n_labels})` : "check labels";
  } catch (e) { /* the next refresh will tell */ }
  progressTimer = setTimeout(refreshProgress, 3000);
}

function drawPlot(rounds) {
  const has = (v) => v !== null && v !== undefined;
  const pts = rounds.filter((r) => has(r.cv_accuracy));
  const aud = rounds.filter((r) => has(r.audit_accuracy));  // the model on the random held-out items
  const svg = $("acc-svg");
  const W = 260, H = 120, L = 30, R = 8, T = 8, B = 20;
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  add("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#dde1e8" });
  if (!pts.length && !aud.length) {
    add("text", { x: W / 2 + 10, y: H / 2, "text-anchor": "middle", fill: "#6b7385", "font-size": 11 }, "after the first retrain");
    $("acc-text").textContent = "";
    return;
  }
  const xs = pts.concat(aud).map((p) => p.n_labels);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const lows = pts.map((p) => p.cv_accuracy - (p.cv_std || 0)).concat(aud.map((p) => p.audit_low));
  const lo = Math.max(0, Math.min(...lows) - 0.02);
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - (v - lo) / (1 - lo)) * (H - T - B);
  if (pts.length) {
    const band = pts.map((p) => `${X(p.n_labels)},${Y(Math.min(1, p.cv_accuracy + (p.cv_std || 0)))}`)
      .concat(pts.slice().reverse().map((p) => `${X(p.n_labels)},${Y(Math.max(lo, p.cv_accuracy - (p.cv_std || 0)))}`));
    add("polygon", { points: band.join(" "), fill: "rgba(47,111,222,.15)" });
    add("polyline", { points: pts.map((p) => `${X(p.n_labels)},${Y(p.cv_accuracy)}`).join(" "), fill: "none", stroke: "#2f6fde", "stroke-width": 2 });
    pts.forEach((p) => add("circle", { cx: X(p.n_labels), cy: Y(p.cv_accuracy), r: 2.5, fill: "#2f6fde" }));
  }
  aud.forEach((p) => {  // each round's estimate on the audit items, with its 95 % interval
    add("line", { x1: X(p.n_labels), x2: X(p.n_labels), y1: Y(p.audit_low), y2: Y(p.audit_high), stroke: "#d9822b", "stroke-width": 1 });
    add("circle", { class: "audit", cx: X(p.n_labels), cy: Y(p.audit_accuracy), r: 2.5, fill: "#d9822b" });
  });
  add("text", { x: L - 4, y: T + 8, "text-anchor": "end", "font-size": 10, fill: "#6b7385" }, "100%");
  add("text", { x: L - 4, y: H - B, "text-anchor": "end", "font-size": 10, fill: "#6b7385" }, `${Math.round(lo * 100)}%`);
  add("text", { x: L, y: H - 6, "font-size": 10, fill: "#6b7385" }, `${x0}`);
  add("text", { x: W - R, y: H - 6, "text-anchor": "end", "font-size": 10, fill: "#6b7385" }, `${x1} labels`);
  const pct = (v) => `${(v * 100).toFixed(1)}%`;
  const lines = [];
  if (aud.length) {
    const a = aud[aud.length - 1];
    lines.push(`On ${a.audit_labels} random items held out of training (orange): ${pct(a.audit_accuracy)}, 95% interval ${pct(a.audit_low)} to ${pct(a.audit_high)}, at ${a.n_labels} labels.`);
  }
  if (pts.length) {
    const c = pts[pts.length - 1];
    lines.push(`${aud.length ? "Blue: " : ""}${pct(c.cv_accuracy)} \u00b1 ${((c.cv_std || 0) * 100).toFixed(1)} at ${c.n_labels} labels, ${c.cv_folds}-fold CV of the labels so far; the queried items are harder than average, so this underestimates${aud.length ? "." : " (run latal label again with --audit 0.1 for an estimate on random items)."}`);
  }
  $("acc-text").textContent = lines.join(" ");
}

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", (e) => {
  if (e.target && e.target.tagName === "INPUT") return;
  if (!$("modal").hidden && (e.key === "Escape" || e.key === "Enter")) { closeModal(); e.preventDefault(); return; }
  if (e.key === "Escape") { backToBatch(); return; }
  if (e.key === "+") { startSimilar(); e.preventDefault(); return; }
  if ((e.key === "z" && (e.ctrlKey || e.metaKey)) || e.key === "Backspace") { undo(); e.preventDefault(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === " ") { skipFocused(); e.preventDefault(); return; }
  if (e.key === "ArrowRight" || e.key === "ArrowDown") { setFocus(state.focus + 1); e.preventDefault(); return; }
  if (e.key === "ArrowLeft" || e.key === "ArrowUp") { setFocus(state.focus - 1); e.preventDefault(); return; }
  if (e.key === "Enter") { openModal(); e.preventDefault(); return; }
  if (e.key === "Tab" && !e.shiftKey && e.target === document.body) {
    const it = state.items[state.focus];
    if (reviewing()) {  // keep the label as given: a relabel with the same class says someone checked it
      if (it) { labelFocused(it.given); e.preventDefault(); }
    } else if (it && it.guess && !it.label && !it.skipped) {  // accept the model's guess, if it has one
      labelFocused(it.guess.label); e.preventDefault();
    }
    return;
  }
  const cls = state.keyToClass[e.key.toLowerCase()];
  if (cls !== undefined) { labelFocused(cls); e.preventDefault(); }
});

$("modal").addEventListener("click", closeModal);
$("skip").addEventListener("click", skipFocused);
$("undo").addEventListener("click", undo);
$("review").addEventListener("click", (e) => { e.currentTarget.blur(); startReview(); });
$("review-back").addEventListener("click", (e) => { e.currentTarget.blur(); backToBatch(); });
$("similar").addEventListener("click", (e) => { e.currentTarget.blur(); startSimilar(); });
window.addEventListener("pagehide", () => {
  const body = JSON.stringify({ client });
  navigator.sendBeacon("api/release", new Blob([body], { type: "application/json" }));  // the cookie carries a token
});

async function start() {
  $("annotator").value = localStorage.getItem("latal-annotator") || "annotator";
  $("annotator").addEventListener("change", () => localStorage.setItem("latal-annotator", annotator()));
  try {
    state.project = await api("api/project");
  } catch (e) { showEmpty(e.message); return; }
  const p = state.project;
  $("title").textContent = `${p.title} \u00b7 ${p.items} items \u00b7 ${p.strategy}`;
  $("pipeline").textContent = p.pipeline;  // how items are chosen and what the learner reads
  $("guess-hint").hidden = !p.guesses;
  document.title = `latal: ${p.title}`;
  const box = $("classes");
  p.classes.forEach((c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.class = c.name;
    const k = document.createElement("kbd"); k.textContent = c.key || "";
    const name = document.createElement("span"); name.textContent = c.name;
    const n = document.createElement("span"); n.className = "n"; n.dataset.classCount = c.name; n.textContent = "0";
    b.append(k, name, n);
    b.addEventListener("click", () => labelFocused(c.name));
    box.append(b);
    if (c.key) state.keyToClass[c.key] = c.name;
  });
  await loadNext();
}
start();
