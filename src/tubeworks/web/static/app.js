// tubeworks dashboard. Polls /api/state; every value goes into the page as text
// (textContent / text nodes), never as HTML.
"use strict";

const POLL_MS = 1500;
const LOG_POLL_MS = 1000;
const LOG_KEEP = 200000; // characters of log kept in the page
const SERIES = [["puts", "#2d6cdf"], ["reserves", "#1e8449"], ["deletes", "#b9770e"]];

const view = { tube: null, log: null, logOffset: -1, logTimer: null, busy: false, errorAt: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

// absolute URLs from location.origin: a page opened as http://user:pass@host/ has a base URL
// with credentials, and fetch() refuses to resolve relative URLs against it
const absolute = (path) => location.origin + path;

async function getJSON(url) {
  const response = await fetch(absolute(url), { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function post(url, payload) {
  const response = await fetch(absolute(url), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Tubeworks": "1" },
    body: JSON.stringify(payload),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function status(text, isError) {
  setText($("status"), text);
  $("status").className = isError ? "error" : "";
  view.errorAt = isError ? Date.now() : 0;
}

async function act(what, call) {
  try {
    await call();
    status(what + ": done", false);
  } catch (err) {
    status(what + ": " + err.message, true);
  }
  refresh();
}

// ---- formatting ----

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  return h + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

// ---- processes ----

function processRow(p) {
  const row = el("tr", { "data-name": p.name });
  for (const cls of ["name", "state", "pid num", "uptime num", "cpu num", "rss num", "desc"]) {
    row.append(el("td", { class: cls }));
  }
  const name = p.name;
  const buttons = el("td", { class: "actions" },
    el("button", { type: "button", "data-action": "start",
      onclick: () => act("start " + name, () => post("/api/process", { name, action: "start" })) },
      "start"),
    el("button", { type: "button", "data-action": "stop", class: "danger",
      onclick: () => confirm("Stop " + name + "?") &&
        act("stop " + name, () => post("/api/process", { name, action: "stop" })) }, "stop"),
    el("button", { type: "button", "data-action": "restart", class: "danger",
      onclick: () => confirm("Restart " + name + "?") &&
        act("restart " + name, () => post("/api/process", { name, action: "restart" })) },
      "restart"),
    el("button", { type: "button", "data-action": "log", onclick: () => openLog(name) }, "log"));
  row.append(buttons);
  return row;
}

function renderProcesses(processes) {
  const body = $("proc-table").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.name, r]));
  processes.forEach((p, index) => {
    let row = rows.get(p.name);
    if (!row) row = processRow(p);
    rows.delete(p.name);
    if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] || null);
    const cells = row.cells;
    setText(cells[0], p.name);
    setText(cells[1], p.state);
    cells[1].className = "state state-" + p.state;
    setText(cells[2], p.pid);
    setText(cells[3], duration(p.uptime));
    setText(cells[4], p.cpu === null ? "" : p.cpu.toFixed(2) + " s");
    setText(cells[5], bytes(p.rss));
    setText(cells[6], p.description);
    const running = ["RUNNING", "STARTING", "BACKOFF"].includes(p.state);
    row.querySelector("[data-action=start]").disabled = running || p.state === "STOPPING";
    row.querySelector("[data-action=stop]").disabled = !running;
    row.querySelector("[data-action=log]").disabled = p.logs.length === 0;
  });
  for (const stale of rows.values()) stale.remove();
}

// ---- log tail ----

function openLog(name) {
  view.log = name;
  view.logOffset = -1;
  setText($("log-name"), name);
  setText($("log-text"), "");
  $("log-view").hidden = false;
  pollLog();
}

function closeLog() {
  view.log = null;
  $("log-view").hidden = true;
  clearTimeout(view.logTimer);
}

async function pollLog() {
  clearTimeout(view.logTimer);
  const name = view.log;
  if (name === null) return;
  const channel = $("log-channel").value;
  const url = "/api/log?" + new URLSearchParams({ name, channel, offset: view.logOffset });
  try {
    const data = await getJSON(url);
    if (view.log !== name) return;
    const pre = $("log-text");
    let text = (data.reset ? "" : pre.textContent) + data.text;
    if (text.length > LOG_KEEP) text = text.slice(text.length - LOG_KEEP);
    if (data.reset || data.text) {
      pre.textContent = text;
      if ($("log-follow").checked) pre.scrollTop = pre.scrollHeight;
    }
    view.logOffset = data.offset;
  } catch (err) {
    status("log: " + err.message, true);
  }
  view.logTimer = setTimeout(pollLog, LOG_POLL_MS);
}

// ---- queues ----

function chart(canvas, points, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#6b7380";
  if (points.length < 2) {
    ctx.fillText("collecting rates… (a point per poll, last 5 minutes)", 8, h / 2);
    return;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  let top = 1;
  for (const p of points) for (const [key] of series) top = Math.max(top, p[key] || 0);
  const x = (t) => 40 + ((t - t0) / Math.max(1, t1 - t0)) * (w - 50);
  const y = (v) => h - 14 - (v / top) * (h - 24);
  ctx.fillText(top.toFixed(top < 10 ? 1 : 0) + "/s", 2, 12);
  ctx.fillText("0", 2, h - 14);
  ctx.strokeStyle = "#dde1e7";
  ctx.beginPath(); ctx.moveTo(40, y(0)); ctx.lineTo(w - 10, y(0)); ctx.stroke();
  for (const [key, colour] of series) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(p.t), y(p[key] || 0)));
    ctx.stroke();
  }
  ctx.fillText(Math.round(t1 - t0) + " s", w - 40, h - 2);
}

function legend(series) {
  return el("div", { class: "legend" },
    ...series.map(([key]) => el("span", {}, el("i", { class: "swatch-" + key }), key)));
}

const TUBE_COLUMNS = ["ready", "reserved", "delayed", "buried", "urgent", "total", "watching",
  "waiting", "paused"];

function queueBlock(q) {
  const block = el("div", { class: "queue", "data-queue": q.address },
    el("h3", {}, el("span", { class: "addr" }), " ", el("span", { class: "muted src" })),
    el("p", { class: "error", hidden: "" }),
    el("canvas", { width: "900", height: "110" }),
    legend(SERIES),
    el("table", { class: "tubes" },
      el("thead", {}, el("tr", {}, el("th", {}, "tube"), ...TUBE_COLUMNS.map((c) => el("th", {}, c)))),
      el("tbody")));
  return block;
}

function tubeRow(address, name) {
  const link = el("a", { class: "tube", tabindex: "0",
    onclick: () => openTube(address, name) }, name);
  return el("tr", { "data-tube": name }, el("td", {}, link),
    ...TUBE_COLUMNS.map((c) => el("td", { class: "num", "data-col": c })));
}

function renderQueues(queues) {
  const list = $("queue-list");
  $("no-queues").hidden = queues.length > 0;
  const blocks = new Map([...list.children].map((b) => [b.dataset.queue, b]));
  for (const q of queues) {
    let block = blocks.get(q.address);
    if (!block) list.append(block = queueBlock(q));
    blocks.delete(q.address);
    setText(block.querySelector(".addr"), q.address);
    setText(block.querySelector(".src"),
      "(" + q.source + (q.version ? ", beanstalk " + q.version : "") + ")");
    const error = block.querySelector(".error");
    error.hidden = !q.error;
    setText(error, q.error);
    const body = block.querySelector("tbody");
    if (q.error) {
      body.replaceChildren(); // counts from before the error would mislead
      continue;
    }
    chart(block.querySelector("canvas"), q.rates, SERIES);
    const rows = new Map([...body.rows].map((r) => [r.dataset.tube, r]));
    q.tubes.forEach((t, index) => {
      let row = rows.get(t.name);
      if (!row) row = tubeRow(q.address, t.name);
      rows.delete(t.name);
      if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] || null);
      for (const c of TUBE_COLUMNS) setText(row.querySelector("[data-col=" + c + "]"), t[c]);
    });
    for (const stale of rows.values()) stale.remove();
    if (view.tube && view.tube.queue === q.address) {
      const points = q.tube_rates.map((p) => ({ t: p.t, puts: p[view.tube.name] || 0 }));
      chart($("tube-chart"), points, [["puts", SERIES[0][1]]]);
    }
  }
  for (const stale of blocks.values()) stale.remove();
}

// ---- one tube ----

function openTube(queue, name) {
  view.tube = { queue, name, detail: null };
  setText($("tube-name"), name);
  setText($("tube-queue"), "on " + queue);
  $("tube-view").hidden = false;
  refreshTube();
}

function closeTube() {
  view.tube = null;
  $("tube-view").hidden = true;
}

function peekBox(state, job) {
  const box = el("div", { class: "peek", "data-state": state });
  box.append(el("h3", {}, "next " + state));
  if (!job) {
    box.append(el("p", { class: "muted" }, "none"));
    return box;
  }
  const b = job.body;
  box.append(el("div", { class: "meta" },
    "job " + job.id + " · pri " + job.pri + " · age " + job.age + " s" +
    (state === "delayed" ? " · ready in " + job.time_left + " s" : "") +
    " · " + b.size + " bytes, " + b.kind + (b.truncated ? " (cut)" : "")));
  box.append(el("pre", { class: "body body-" + b.kind }, b.text));
  const { queue, name } = view.tube;
  const actions = el("div", { class: "bar" });
  if (state !== "ready") {
    actions.append(el("button", { type: "button", "data-action": "kick-job",
      onclick: () => act("kick job " + job.id,
        () => post("/api/queue", { queue, tube: name, action: "kick-job", job: job.id })) },
      "kick this job"));
  }
  actions.append(el("button", { type: "button", class: "danger", "data-action": "delete",
    onclick: () => confirm("Delete job " + job.id + " from " + name + "?") &&
      act("delete job " + job.id,
        () => post("/api/queue", { queue, tube: name, action: "delete", job: job.id })) },
    "delete…"));
  box.append(actions);
  return box;
}

async function refreshTube() {
  const tube = view.tube;
  if (!tube) return;
  let detail;
  try {
    detail = await getJSON("/api/tube?" + new URLSearchParams({ queue: tube.queue, tube: tube.name }));
  } catch (err) {
    if (view.tube !== tube) return;
    $("tube-error").hidden = false;
    setText($("tube-error"), err.message);
    return;
  }
  if (view.tube !== tube) return;
  tube.detail = detail;
  $("tube-error").hidden = true;
  $("tube-stats").replaceChildren(...Object.entries(detail.stats).map(([k, v]) =>
    el("span", { class: "stat", "data-key": k }, el("span", { class: "muted" }, k), " ",
      el("b", {}, v))));
  // replace a peek box only when its job changed, so a click on it is never lost
  const peeks = $("peeks");
  ["ready", "delayed", "buried"].forEach((state, index) => {
    const job = detail.peek[state];
    const key = job ? String(job.id) : "";
    const old = peeks.querySelector("[data-state=" + state + "]");
    if (old && old.dataset.job === key) return;
    const box = peekBox(state, job);
    box.dataset.job = key;
    if (old) old.replaceWith(box);
    else peeks.insertBefore(box, peeks.children[index] || null);
  });
}

function kickTube() {
  const { queue, name, detail } = view.tube;
  const stats = detail ? detail.stats : {};
  const bound = stats["current-jobs-buried"] || stats["current-jobs-delayed"] || 1;
  act("kick " + name, () => post("/api/queue", { queue, tube: name, action: "kick", bound }));
}

function pauseTube() {
  const { queue, name } = view.tube;
  const answer = prompt("Pause " + name + " for how many seconds? (0 resumes it)", "60");
  if (answer === null) return;
  act("pause " + name, () => post("/api/queue", { queue, tube: name, action: "pause",
    seconds: Number(answer) }));
}

function clearTube() {
  const { queue, name } = view.tube;
  if (!confirm("Delete every ready, delayed and buried job of " + name + "?")) return;
  act("clear " + name, () => post("/api/queue", { queue, tube: name, action: "clear" }));
}

// ---- the loop ----

async function refresh() {
  if (view.busy) return;
  view.busy = true;
  try {
    const state = await getJSON("/api/state");
    setText($("sv-ident"), state.supervisor.identification + " · " + state.supervisor.state);
    renderProcesses(state.processes);
    renderQueues(state.queues);
    await refreshTube();
    if (!view.errorAt || Date.now() - view.errorAt > 5000) {
      status("updated " + new Date().toLocaleTimeString(), false);
    }
  } catch (err) {
    status("cannot reach the supervisor: " + err.message, true);
  } finally {
    view.busy = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("log-close").addEventListener("click", closeLog);
  $("log-channel").addEventListener("change", () => { view.logOffset = -1; pollLog(); });
  $("tube-close").addEventListener("click", closeTube);
  $("tube-kick").addEventListener("click", kickTube);
  $("tube-pause").addEventListener("click", pauseTube);
  $("tube-clear").addEventListener("click", clearTube);
  refresh();
  setInterval(refresh, POLL_MS);
});
