// The review page: claims through /v1 with the session cookie, keeps the next task claimed
// ahead of time so a verdict shows it at once, keeps leases alive while the page is open and
// gives them back when it closes. Everything a person typed is put on the page as text, never
// as HTML.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("review-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const base = "/v1/projects/" + encodeURIComponent(config.project);
  const $ = (id) => document.getElementById(id);
  const el = window.loopwise.el;

  // -- state -----------------------------------------------------------------------------
  let current = null; // {entry, explanation}
  const ahead = []; // claimed and waiting, in the order they will be shown
  let prefetching = null; // the claim in flight, if any
  let busy = false; // a verdict or undo in flight: keys wait
  let pendingRetry = null; // a verdict whose answer never arrived
  let verdicts = 0;
  const startedAt = Date.now();
  let idleTimer = null;
  const errorTags = new Set();

  // -- HTTP --------------------------------------------------------------------------------
  class HttpError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || "HTTP " + status);
      this.status = status;
      this.code = e.code || "http_" + status;
      this.field = e.field || null;
    }
  }

  async function call(method, path, body, opts) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      keepalive: !!(opts && opts.keepalive),
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(base + path, init);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new HttpError(response.status, data);
    return data;
  }

  // -- banner: what went wrong, and the next step --------------------------------------------
  function say(message, actions, kind) {
    const banner = $("banner");
    banner.replaceChildren(el("p", { text: message }));
    banner.className = "banner " + (kind || "error");
    for (const [label, handler] of actions || []) {
      const b = el("button", { type: "button", text: label });
      b.addEventListener("click", handler);
      banner.append(b);
    }
    banner.hidden = false;
    const first = banner.querySelector("button");
    if (first) first.focus();
  }
  function unsay() {
    $("banner").hidden = true;
  }

  function sessionEnded() {
    const next = encodeURIComponent(location.pathname);
    say(
      "Your session has ended, so nothing more can be recorded. Sign in again: the tasks you hold stay yours until their leases run out.",
      [["Sign in again", () => (location.href = "/ui/login?reason=expired&next=" + next)]],
    );
  }

  // -- claiming ---------------------------------------------------------------------------
  // Each claim carries a key drawn for it. A page left while a claim is in flight never learns
  // the id of the task it takes, so it gives that claim back by its key (see pagehide): the
  // server gives the task back, or makes the claim take nothing if the key arrives first.
  // While a claim is in flight the body carries data-claiming.
  const inFlight = new Set();
  function claimKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function claim() {
    const key = claimKey();
    inFlight.add(key);
    document.body.dataset.claiming = "1";
    try {
      const data = await call("POST", "/queue/claim?explain=true", { claim_key: key });
      return data.entry ? { entry: data.entry, explanation: data.explanation } : null;
    } finally {
      inFlight.delete(key);
      if (inFlight.size === 0) delete document.body.dataset.claiming;
    }
  }

  function prefetch() {
    if (prefetching || ahead.length > 0) return prefetching;
    prefetching = claim()
      .then((found) => {
        if (found) ahead.push(found);
        return found;
      })
      .catch((err) => {
        // limit_reached: this person holds as many tasks as allowed; claim after the verdict
        if (err.status === 401) sessionEnded();
        return null;
      })
      .finally(() => {
        prefetching = null;
      });
    return prefetching;
  }

  async function showNext() {
    if (ahead.length === 0 && prefetching) await prefetching;
    if (ahead.length === 0) {
      try {
        const found = await claim();
        if (found) ahead.push(found);
      } catch (err) {
        if (err.status === 401) return sessionEnded();
        if (err.code === "limit_reached") {
          say(err.message + ". Finish a held task or wait for its lease to end.", [["Try again", showNext]]);
          return;
        }
        if (err instanceof HttpError) return say(err.message, [["Try again", showNext]]);
        return say("The network is not answering. Nothing was lost.", [["Try again", showNext]]);
      }
    }
    if (ahead.length === 0) {
      current = null;
      renderEmpty();
      clearTimeout(idleTimer);
      idleTimer = setTimeout(showNext, 5000);
      return;
    }
    current = ahead.shift();
    render(current);
    prefetch();
  }

  // -- rendering ----------------------------------------------------------------------------
  function renderEmpty() {
    $("empty").hidden = false;
    $("item").replaceChildren();
    $("suggestion").replaceChildren();
    $("reasons").replaceChildren();
    $("earlier").hidden = true;
    $("highlight-legend").hidden = true;
    $("task-meta").textContent = "No task right now.";
    document.body.dataset.taskId = "";
  }

  const PRIORITIES = ["urgent", "high", "normal", "low", "discovery"];
  const TOKEN = /[\p{L}\p{N}_]{2,}/gu;

  function highlighted(text, explanation) {
    const toward = new Map();
    if (explanation) {
      for (const c of explanation.contributions) {
        for (const word of c.feature.split(" ")) {
          const prev = toward.get(word) || 0;
          if (Math.abs(c.weight) > Math.abs(prev)) toward.set(word, c.weight);
        }
      }
    }
    const out = el("p", { class: "text" });
    let last = 0;
    for (const m of text.matchAll(TOKEN)) {
      const w = toward.get(m[0].toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, ""));
      if (w === undefined) continue;
      out.append(text.slice(last, m.index));
      const mark = el("mark", {
        class: w > 0 ? "toward" : "away",
        title: (w > 0 ? "pushed towards " : "pushed away from ") + explanation.label + " (" + w.toFixed(2) + ")",
        text: m[0],
      });
      out.append(mark);
      last = m.index + m[0].length;
    }
    out.append(text.slice(last));
    return out;
  }

  function featureTable(features, explanation) {
    const push = new Map();
    if (explanation) for (const c of explanation.contributions) push.set(c.feature, c.weight);
    const rows = features.map((v, i) => {
      const name = config.featureNames[i] || "x" + i;
      const w = push.get(name);
      return el(
        "tr",
        {},
        el("th", { scope: "row", text: name }),
        el("td", { class: "num", text: String(v) }),
        el("td", { class: w === undefined ? "" : w > 0 ? "toward" : "away", text: w === undefined ? "" : w.toFixed(2) }),
      );
    });
    return el(
      "table",
      { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Feature" }), el("th", { scope: "col", text: "Value" }), el("th", { scope: "col", text: "Push" }))),
      el("tbody", {}, ...rows),
    );
  }

  function render(found) {
    const { entry, explanation } = found;
    unsay();
    clearTimeout(idleTimer);
    $("empty").hidden = true;
    const task = entry.task;
    document.body.dataset.taskId = String(task.id);
    const stage = task.stage === "expert" ? "Expert review" : "Review";
    $("task-meta").textContent =
      stage + " · task " + task.id + " · item " + entry.item.external_id + " · " + (PRIORITIES[task.priority] || "level " + task.priority) + " priority";
    const payload = entry.item.payload;
    const item = $("item");
    if (typeof payload.text === "string") item.replaceChildren(highlighted(payload.text, explanation));
    else if (Array.isArray(payload.features)) item.replaceChildren(featureTable(payload.features, explanation));
    else item.replaceChildren(el("pre", { text: JSON.stringify(payload, null, 2) }));
    const legend = $("highlight-legend");
    if (explanation && typeof payload.text === "string") {
      legend.textContent =
        "Marked words pushed model v" + explanation.model_version + " towards “" + explanation.label + "” (warm) or away from it (cool).";
      legend.hidden = false;
    } else legend.hidden = true;

    const p = entry.prediction;
    const sug = $("suggestion");
    if (p && p.predicted_label !== null) {
      sug.replaceChildren(
        el("h2", { text: "Model suggests" }),
        el(
          "p",
          { class: "suggested" },
          el("strong", { text: p.predicted_label }),
          " · calibrated confidence " + (100 * p.confidence).toFixed(1) + "%",
        ),
      );
    } else sug.replaceChildren(el("h2", { text: "No model suggestion" }), el("p", { text: "Pick the label." }));

    const reasons = $("reasons");
    reasons.replaceChildren(
      el("h2", { text: "Why you see it" }),
      el("ul", {}, ...(entry.reasons.length ? entry.reasons : ["queued for review"]).map((r) => el("li", { text: r }))),
    );
    renderEarlier(entry);
    for (const b of document.querySelectorAll("#labels button")) {
      b.classList.toggle("suggested", p && b.dataset.label === p.predicted_label);
    }
    errorTags.clear();
    for (const b of document.querySelectorAll("#error-tags button")) b.setAttribute("aria-pressed", "false");
    $("comment").value = "";
    item.focus({ preventScroll: true });
  }

  function renderEarlier(entry) {
    const box = $("earlier");
    const earlier = entry.earlier_reviews || [];
    if (!earlier.length) {
      box.hidden = true;
      return;
    }
    const counts = new Map();
    for (const r of earlier) if (r.label) counts.set(r.label, (counts.get(r.label) || 0) + 1);
    let top = null;
    for (const [label, n] of counts) if (!top || n > top[1]) top = [label, n];
    const agree = top ? top[1] + " of " + earlier.length + " reviews say “" + top[0] + "” (" + Math.round((100 * top[1]) / earlier.length) + "% agreement)" : "No earlier review gave a label";
    box.replaceChildren(
      el("h2", { text: "Earlier reviews" }),
      el("p", { class: "agreement", text: agree }),
      el(
        "table",
        { class: "grid" },
        el("thead", {}, el("tr", {}, ...["Reviewer", "Verdict", "Label", "Error", "Comment"].map((h) => el("th", { scope: "col", text: h })))),
        el(
          "tbody",
          {},
          ...earlier.map((r) =>
            el("tr", {}, ...[r.reviewer, r.verdict, r.label || "", r.error_category || "", r.comment || ""].map((t) => el("td", { text: t }))),
          ),
        ),
      ),
    );
    box.hidden = false;
  }

  // -- verdicts ------------------------------------------------------------------------------
  function verdictFor(kind, label) {
    const body = { verdict: kind, comment: $("comment").value.trim() };
    if (label !== undefined) body.label = label;
    if (errorTags.size) body.error_category = [...errorTags][0];
    return body;
  }

  function byLabel(index) {
    const label = config.labels[index];
    if (label === undefined || !current) return;
    const p = current.entry.prediction;
    if (p && p.predicted_label === label) return submit(verdictFor("approve"));
    return submit(verdictFor("correct", label));
  }

  async function submit(body, retrying) {
    if (!current || busy) return;
    const task = current.entry.task;
    busy = true;
    document.body.dataset.busy = "1";
    try {
      if (retrying) {
        // The first attempt's answer was lost: if the task is no longer held, it was recorded.
        const held = await call("GET", "/queue/mine");
        if (!held.some((h) => h.entry.task.id === task.id)) {
          pendingRetry = null;
          counted({ break_suggested: false });
          busy = false;
          await showNext();
          say("Your verdict on task " + task.id + " had been recorded before the network failed; it was not sent again.", [], "notice");
          return;
        }
      }
      const result = await call("POST", "/tasks/" + task.id + "/verdict", body);
      pendingRetry = null;
      counted(result);
      busy = false;
      await showNext();
    } catch (err) {
      busy = false;
      if (!(err instanceof HttpError)) {
        pendingRetry = body;
        say("The network failed before your verdict on task " + task.id + " was confirmed. Nothing is recorded twice: retrying checks first.", [
          ["Retry", () => submit(pendingRetry, true)],
        ]);
      } else if (err.status === 401) {
        sessionEnded();
      } else if (["lease_expired", "not_task_holder", "task_not_claimable", "task_not_found"].includes(err.code)) {
        say("Task " + task.id + " is no longer yours (" + err.message + "). Your verdict on it was not recorded.", [
          ["Next task", () => showNext()],
        ]);
        current = null;
      } else {
        say(err.message + (err.field ? " (" + err.field + ")" : ""), [["Dismiss", unsay]]);
      }
    } finally {
      delete document.body.dataset.busy;
    }
  }

  function counted(result) {
    verdicts += 1;
    $("session-count").textContent = String(verdicts);
    if (result.break_suggested || verdicts >= config.breakAfterTasks) $("break").hidden = false;
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const review = await call("POST", "/queue/undo");
      const held = await call("GET", "/queue/mine?explain=true");
      const back = held.find((h) => h.entry.task.id === review.task_id);
      if (current) ahead.unshift(current);
      verdicts = Math.max(0, verdicts - 1);
      $("session-count").textContent = String(verdicts);
      if (back) {
        current = back;
        render(current);
        say("Your verdict on task " + back.entry.task.id + " is taken back; judge it again.", [], "notice");
      }
    } catch (err) {
      if (err.status === 401) sessionEnded();
      else say(err instanceof HttpError ? err.message : "The network failed; nothing was undone.", [["Dismiss", unsay]]);
    } finally {
      busy = false;
    }
  }

  // -- leases --------------------------------------------------------------------------------
  function heldIds() {
    return [current, ...ahead].filter(Boolean).map((f) => f.entry.task.id);
  }
  setInterval(() => {
    for (const id of heldIds()) {
      call("POST", "/tasks/" + id + "/heartbeat").catch((err) => {
        if (err.status === 401) sessionEnded();
      });
    }
  }, Math.max(2, Math.min(30, config.leaseSeconds / 3)) * 1000);

  window.addEventListener("pagehide", () => {
    for (const id of heldIds()) call("POST", "/tasks/" + id + "/release", undefined, { keepalive: true }).catch(() => {});
    if (inFlight.size > 0) {
      call("POST", "/queue/release", { claim_keys: [...inFlight] }, { keepalive: true }).catch(() => {});
    }
  });

  // -- session timer ------------------------------------------------------------------------
  setInterval(() => {
    const s = Math.floor((Date.now() - startedAt) / 1000);
    $("session-time").textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    if (s / 60 >= config.breakAfterMinutes) $("break").hidden = false;
  }, 1000);

  // -- controls ------------------------------------------------------------------------------
  config.labels.slice(0, 9).forEach((label, i) => {
    const b = el("button", { type: "button", "data-label": label }, el("kbd", { text: String(i + 1) }), " " + label);
    b.addEventListener("click", () => byLabel(i));
    $("labels").append(b);
  });
  config.errorCategories.slice(0, 9).forEach((cat, i) => {
    const b = el("button", { type: "button", "aria-pressed": "false", "data-category": cat, title: "Shift+" + (i + 1) }, cat.replaceAll("_", " "));
    b.addEventListener("click", () => toggleTag(cat, b));
    $("error-tags").append(b);
  });
  function toggleTag(cat, button) {
    if (errorTags.has(cat)) errorTags.delete(cat);
    else {
      errorTags.clear();
      for (const b of document.querySelectorAll("#error-tags button")) b.setAttribute("aria-pressed", "false");
      errorTags.add(cat);
    }
    button.setAttribute("aria-pressed", errorTags.has(cat) ? "true" : "false");
  }
  for (const b of document.querySelectorAll("[data-verdict]")) {
    b.addEventListener("click", () => (b.dataset.verdict === "approve" ? approve() : submit(verdictFor(b.dataset.verdict))));
  }
  document.querySelector('[data-action="undo"]').addEventListener("click", undo);

  function approve() {
    const p = current && current.entry.prediction;
    if (!p || p.predicted_label === null) {
      say("There is no suggestion to approve: pick a label with 1 to " + Math.min(9, config.labels.length) + ".", [["Dismiss", unsay]]);
      return;
    }
    submit(verdictFor("approve"));
  }

  document.addEventListener("keydown", (event) => {
    const dialog = $("keys");
    const typing = event.target.closest && event.target.closest("textarea, input, select");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      event.preventDefault();
      if (dialog.open) dialog.close();
      else dialog.showModal();
      return;
    }
    if (dialog.open) return;
    if (event.target.closest && event.target.closest("#banner button") && event.key === "Enter") return;
    const digit = /^(?:Digit|Numpad)([1-9])$/.exec(event.code);
    if (digit && event.shiftKey) {
      const b = document.querySelectorAll("#error-tags button")[Number(digit[1]) - 1];
      if (b) {
        event.preventDefault();
        toggleTag(b.dataset.category, b);
      }
      return;
    }
    if (event.target.closest && event.target.closest("button") && (event.key === "Enter" || event.key === " ")) return;
    const key = event.key.toLowerCase();
    if (digit) {
      event.preventDefault();
      return byLabel(Number(digit[1]) - 1);
    }
    const actions = {
      enter: approve,
      a: approve,
      r: () => submit(verdictFor("reject")),
      e: () => submit(verdictFor("escalate")),
      s: () => submit(verdictFor("skip")),
      u: undo,
      c: () => $("comment").focus(),
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  });

  // -- start: pick up what this person already holds, then claim --------------------------
  (async function start() {
    try {
      const held = await call("GET", "/queue/mine?explain=true");
      for (const found of held) ahead.push(found);
    } catch (err) {
      if (err.status === 401) return sessionEnded();
    }
    await showNext();
  })();
})();
