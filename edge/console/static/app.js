// dwell console: plain JS, no build step. Draws coordinates and numbers only, never video.
"use strict";
let csrf = "";
const $ = (id) => document.getElementById(id);
const COLORS = { walking: "#4a90d9", lingering: "#f5a623", looking_around: "#9b59b6",
  at_help_point: "#d0021b", staff: "#417505", attended: "#7ed321", party: "#50e3c2" };
const ZONE_COLORS = { help_point: "#d0021b", staff: "#417505", ignore: "#999999", entrance: "#4a90d9" };

async function api(path, body) {
  const opts = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { location.href = "/login"; throw new Error("login required"); }
  const data = await res.json();
  return { status: res.status, data };
}

// A report or what-if replays on the server's background worker: 202 means "still running,
// poll /api/jobs?id=…" (the page stays usable meanwhile; `onWait` shows how long so far).
async function apiJob(path, body, onWait) {
  let { status, data } = await api(path, body);
  while (status === 202) {
    if (onWait) onWait(data);
    await new Promise((r) => setTimeout(r, 500));
    ({ status, data } = await api("/api/jobs?id=" + encodeURIComponent(data.job)));
  }
  return { status, data };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// ---- tabs -----------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("nav button, .tab").forEach((n) => n.classList.remove("active"));
  b.classList.add("active");
  $(b.dataset.tab).classList.add("active");
  if (b.dataset.tab === "report") loadReport();
  if (b.dataset.tab === "zones") loadZones();
}));

// ---- live floor -------------------------------------------------------------------------
window.dwellLive = { updates: 0, state: null };

function polygon(ctx, pts, w, h) {
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
  ctx.closePath();
}

function drawZones(ctx, zones, w, h, selected) {
  zones.forEach((z, i) => {
    ctx.strokeStyle = ZONE_COLORS[z.kind] || "#333";
    ctx.fillStyle = (ZONE_COLORS[z.kind] || "#333") + (i === selected ? "55" : "22");
    polygon(ctx, z.polygon, w, h);
    ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#222";
    ctx.fillText(z.name, z.polygon[0][0] * w + 3, z.polygon[0][1] * h + 12);
  });
}

function drawFloor(state) {
  const c = $("floor"), ctx = c.getContext("2d"), w = c.width, h = c.height;
  ctx.clearRect(0, 0, w, h);
  drawZones(ctx, state.zones, w, h, -1);
  for (const p of state.people) {
    const color = COLORS[p.state] || "#333";
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    p.tail.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    ctx.stroke();
    ctx.fillStyle = color; ctx.beginPath(); ctx.arc(p.x * w, p.y * h, 7, 0, 7); ctx.fill();
    ctx.fillStyle = "#222";
    ctx.fillText(`${p.id} ${p.state} ${Math.round(p.dwell_s)}s`, p.x * w + 9, p.y * h - 6);
  }
  $("people-count").textContent = state.people.length;
  $("people").replaceChildren(...state.people.map((p) =>
    el("li", {}, `visitor ${p.id}: ${p.state}, ${Math.round(p.dwell_s)} s inside`)));
  $("health").replaceChildren(...Object.entries(state.health).flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, String(v))]));
  for (const e of state.feed) {
    const text = e.kind === "ping" ? `${e.t}s PING visitor ${e.visitor}: ${e.reason}${e.zone ? " at " + e.zone : ""} after ${e.dwell_s}s`
      : e.kind === "held" ? `${e.t}s held ${e.candidate} for visitor ${e.visitor}: ${e.rule} (${e.detail})`
      : `${e.t}s ack ${e.ping_id} (${e.action})`;
    $("feed").prepend(el("li", { class: e.kind }, text));
  }
  while ($("feed").children.length > 200) $("feed").lastChild.remove();
}

function startLive() {
  const source = new EventSource("/api/live");
  source.onmessage = (msg) => {
    const state = JSON.parse(msg.data);
    window.dwellLive.state = state;
    window.dwellLive.updates += 1;
    drawFloor(state);
  };
}

// ---- traces -----------------------------------------------------------------------------
async function loadTraces() {
  const { data } = await api("/api/traces");
  document.querySelectorAll(".trace-pick").forEach((sel) => {
    sel.replaceChildren(...data.map((t) =>
      el("option", { value: t.name }, `${t.name} (${t.files.length > 1 ? t.files.length + " runs, " : ""}${Math.round(t.bytes / 1024)} KiB)`)));
  });
}

// ---- report -----------------------------------------------------------------------------
const REPORT_COLUMNS = ["hour", "visits", "entered", "exited", "dwell_median_s", "dwell_p90_s",
  "pings", "held", "acks", "response_median_s", "unanswered", "staff_came", "staff_response_median_s", "live_pings", "live_acked",
  "live_response_median_s"];

function byKey(obj) {
  return Object.entries(obj).map(([k, v]) => `${k} ${v}`).join(", ");
}

async function loadReport() {
  const trace = $("report-trace").value;
  $("report-status").textContent = "replaying…";
  $("report-csv").removeAttribute("href");  // offered once the replay is done
  const { status, data } = await apiJob("/api/report?trace=" + encodeURIComponent(trace),
    undefined, (j) => { $("report-status").textContent = `replaying… (${j.state}, ${j.waited_s} s)`; });
  if (status !== 200) { $("report-status").textContent = data.error; return; }
  $("report-csv").href = "/api/report.csv?trace=" + encodeURIComponent(trace);
  $("report-status").textContent = `${data.trace}: replayed in ${data.seconds} s`;
  const head = el("tr", {}, ...REPORT_COLUMNS.map((c) => el("th", {}, c)),
    el("th", {}, "pings by reason"), el("th", {}, "held by rule"), el("th", {}, "dwell distribution"));
  const rows = [...data.hours, data.total].map((r) => el("tr", { "data-hour": r.hour },
    ...REPORT_COLUMNS.map((c) => el("td", { "data-col": c }, r[c] == null ? "–" : String(r[c]))),
    el("td", { "data-col": "pings_by_reason" }, byKey(r.pings_by_reason)),
    el("td", { "data-col": "held_by_rule" }, byKey(r.held_by_rule)),
    el("td", {}, byKey(r.dwell_bins))));
  $("report-table").replaceChildren(head, ...rows);
}
$("report-trace").addEventListener("change", loadReport);

// ---- thresholds -------------------------------------------------------------------------
function fieldInput(section, f) {
  const id = `${section}.${f.key}`;
  let input;
  if (f.type === "bool") {
    input = el("input", { type: "checkbox", id, "data-section": section, "data-key": f.key });
    input.checked = !!f.value;
  } else {
    input = el("input", { id, "data-section": section, "data-key": f.key,
      type: f.type === "str" ? "text" : "number", step: f.type === "int" ? "1" : "any" });
    const b = f.bounds;
    if (b.ge !== undefined || b.gt !== undefined) input.min = b.ge ?? b.gt;
    if (b.le !== undefined || b.lt !== undefined) input.max = b.le ?? b.lt;
    input.value = f.value === null ? "" : f.value;
  }
  input.dataset.type = f.type;
  input.dataset.original = f.type === "bool" ? String(!!f.value) : (f.value === null ? "" : String(f.value));
  const bounds = Object.entries(f.bounds).map(([k, v]) => `${{ ge: "≥", gt: ">", le: "≤", lt: "<" }[k]} ${v}`).join(", ");
  return el("div", { class: "field" }, el("label", { for: id }, `${f.key} `), input,
    el("span", { class: "error", id: `err-${id}` }),
    el("small", {}, `${f.description} ${bounds ? "(" + bounds + ")" : ""} default ${f.default}`));
}

function valueOf(input) {
  if (input.dataset.type === "bool") return input.checked;
  if (input.value === "") return null;
  return input.dataset.type === "str" ? input.value : Number(input.value);
}

function changedValues(form, all) {
  const out = {};
  form.querySelectorAll("input[data-key]").forEach((input) => {
    const now = input.dataset.type === "bool" ? String(input.checked) : input.value;
    if (!all && now === input.dataset.original) return;
    (out[input.dataset.section] ||= {})[input.dataset.key] = valueOf(input);
  });
  return out;
}

async function loadThresholds() {
  const { data } = await api("/api/thresholds");
  const form = $("thresholds-form"), wf = $("whatif-form");
  form.replaceChildren(); wf.replaceChildren();
  for (const [section, fields] of Object.entries(data)) {
    form.append(el("h3", {}, `[${section}]`), ...fields.map((f) => fieldInput(section, f)));
  }
  wf.append(...data.policy.map((f) => fieldInput("policy", f)));
  wf.querySelectorAll("input").forEach((i) => { i.id = "whatif-" + i.id; });
}

function showErrors(prefix, errors) {
  document.querySelectorAll(`[id^="err-${prefix}"]`).forEach((n) => { n.textContent = ""; });
  for (const [key, why] of Object.entries(errors || {})) {
    const node = $(`err-${prefix}${key}`);
    if (node) node.textContent = " " + why;
  }
}

$("thresholds-save").addEventListener("click", async () => {
  const changes = changedValues($("thresholds-form"), false);
  const { status, data } = await api("/api/config", changes);
  showErrors("", data.errors);
  $("thresholds-status").textContent = status === 200 ? "saved, sensor reloaded"
    : "not saved: " + Object.entries(data.errors || { error: data.error }).map(([k, v]) => `${k}: ${v}`).join("; ");
  if (status === 200) loadThresholds();
});

// ---- what-if ----------------------------------------------------------------------------
function whatifRow(label, cur, chg, id) {
  return el("tr", {}, el("th", {}, label), el("td", { id: id ? id + "-current" : "" }, cur),
    el("td", { id: id ? id + "-changed" : "" }, chg));
}

$("whatif-run").addEventListener("click", async () => {
  $("whatif-status").textContent = "replaying…";
  const changes = changedValues($("whatif-form"), false);
  const { status, data } = await apiJob("/api/whatif", { trace: $("whatif-trace").value, changes },
    (j) => { $("whatif-status").textContent = `replaying… (${j.state}, ${j.waited_s} s)`; });
  if (status !== 200) {
    $("whatif-status").textContent = "refused: " + JSON.stringify(data.errors || data.error);
    return;
  }
  const c = data.current, n = data.changed;
  $("whatif-status").textContent = `${data.trace}: replayed with the changes in ${data.seconds} s`;
  const hours = [...new Set([...Object.keys(c.pings_per_hour), ...Object.keys(n.pings_per_hour)])].sort();
  $("whatif-table").replaceChildren(
    el("tr", {}, el("th", {}, ""), el("th", {}, "current settings"), el("th", {}, "with changes")),
    whatifRow("pings", String(c.pings), String(n.pings), "whatif-pings"),
    whatifRow("by reason", byKey(c.pings_by_reason), byKey(n.pings_by_reason)),
    ...hours.map((h) => whatifRow(`pings ${h}`, String(c.pings_per_hour[h] || 0), String(n.pings_per_hour[h] || 0))),
    whatifRow("dwell when pinged (median s)", String(c.dwell_when_pinged_median_s), String(n.dwell_when_pinged_median_s)),
    whatifRow("held by rule", byKey(c.held_by_rule), byKey(n.held_by_rule)),
    whatifRow("lingered, never pinged", c.lingered_never_pinged.join(", ") || "none",
      n.lingered_never_pinged.join(", ") || "none", "whatif-never"));
});

// ---- zones ------------------------------------------------------------------------------
const zoneEdit = { zones: [], heat: null, selected: -1, drawing: null, drag: null, snapshot: null,
  errors: {} };
window.dwellZones = zoneEdit;

async function loadZones() {
  const [{ data: cfg }, heat] = await Promise.all([api("/api/config"),
    api("/api/heatmap?trace=" + encodeURIComponent($("zones-trace").value))]);
  zoneEdit.zones = cfg.settings.zones.map((z) => ({ ...z, polygon: z.polygon.map((p) => [...p]) }));
  zoneEdit.heat = heat.status === 200 ? heat.data : null;
  drawZoneEditor();
}
$("zones-trace").addEventListener("change", loadZones);

function drawZoneEditor() {
  const c = $("zones-canvas"), ctx = c.getContext("2d"), w = c.width, h = c.height;
  ctx.clearRect(0, 0, w, h);
  if (zoneEdit.snapshot) ctx.drawImage(zoneEdit.snapshot, 0, 0, w, h);
  const heat = zoneEdit.heat;
  if (heat && heat.max > 0) {
    const gy = heat.grid.length, gx = heat.grid[0].length;
    heat.grid.forEach((row, j) => row.forEach((v, i) => {
      if (!v) return;
      ctx.fillStyle = `rgba(230, 80, 0, ${Math.min(1, 0.15 + Math.sqrt(v / heat.max))})`;
      ctx.fillRect(i * w / gx, j * h / gy, w / gx, h / gy);
    }));
  }
  drawZones(ctx, zoneEdit.zones, w, h, zoneEdit.selected);
  ctx.fillStyle = "#b00000";
  Object.entries(zoneEdit.errors).forEach(([i, why]) => {  // the error next to its polygon
    const z = zoneEdit.zones[i];
    if (z && z.polygon.length) ctx.fillText(why, z.polygon[0][0] * w + 3, z.polygon[0][1] * h + 26);
  });
  if (zoneEdit.drawing) {
    ctx.strokeStyle = "#000"; ctx.beginPath();
    zoneEdit.drawing.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    ctx.stroke();
  }
  $("zones-list").replaceChildren(...zoneEdit.zones.map((z, i) => el("li", { "data-zone": i },
    `${z.name} (${z.kind}) `, deleteButton(i), el("span", { class: "error", id: `err-zones.${i}` }))));
}

function deleteButton(i) {
  const b = el("button", { "data-delete": i }, "delete");
  b.addEventListener("click", () => { zoneEdit.zones.splice(i, 1); zoneEdit.selected = -1; drawZoneEditor(); });
  return b;
}

function canvasPoint(ev) {
  const r = $("zones-canvas").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
}

function inside([x, y], pts) {
  let hit = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

$("zone-draw").addEventListener("click", () => {
  zoneEdit.drawing = { name: $("zone-name").value, kind: $("zone-kind").value, polygon: [] };
});
$("zones-canvas").addEventListener("mousedown", (ev) => {
  const p = canvasPoint(ev);
  if (zoneEdit.drawing) return;
  zoneEdit.selected = zoneEdit.zones.findIndex((z) => inside(p, z.polygon));
  if (zoneEdit.selected >= 0) zoneEdit.drag = p;
  drawZoneEditor();
});
$("zones-canvas").addEventListener("mousemove", (ev) => {
  if (!zoneEdit.drag || zoneEdit.selected < 0) return;
  const p = canvasPoint(ev), [dx, dy] = [p[0] - zoneEdit.drag[0], p[1] - zoneEdit.drag[1]];
  const z = zoneEdit.zones[zoneEdit.selected];
  z.polygon = z.polygon.map(([x, y]) => [Math.min(1, Math.max(0, x + dx)), Math.min(1, Math.max(0, y + dy))]);
  zoneEdit.drag = p;
  drawZoneEditor();
});
$("zones-canvas").addEventListener("mouseup", () => { zoneEdit.drag = null; });
$("zones-canvas").addEventListener("click", (ev) => {
  if (!zoneEdit.drawing) return;
  zoneEdit.drawing.polygon.push(canvasPoint(ev).map((v) => Math.round(v * 1000) / 1000));
  drawZoneEditor();
});
$("zones-canvas").addEventListener("dblclick", () => {
  const d = zoneEdit.drawing;
  if (!d) return;
  // the double-click's two clicks each added the same corner: keep one
  d.polygon = d.polygon.filter((p, i) => i === 0 || p[0] !== d.polygon[i - 1][0] || p[1] !== d.polygon[i - 1][1]);
  zoneEdit.zones.push(d);
  zoneEdit.drawing = null;
  drawZoneEditor();
});
$("zones-save").addEventListener("click", async () => {
  const { status, data } = await api("/api/config", { zones: zoneEdit.zones });
  // "zones.1.polygon": "..." -> zone 1's error, drawn beside its polygon and listed
  zoneEdit.errors = Object.fromEntries(Object.entries(data.errors || {})
    .filter(([k]) => k.startsWith("zones."))
    .map(([k, v]) => [k.split(".")[1], `${k.split(".").slice(2).join(".")}: ${v}`]));
  drawZoneEditor();
  showErrors("zones.", zoneEdit.errors);
  $("zones-status").textContent = status === 200 ? "saved, sensor reloaded"
    : "not saved: " + Object.entries(data.errors || { error: data.error }).map(([k, v]) => `${k}: ${v}`).join("; ");
});
$("zones-snapshot").addEventListener("click", async () => {
  const res = await fetch("/api/snapshot", { credentials: "same-origin", cache: "no-store" });
  if (res.status !== 200) { $("zones-status").textContent = (await res.json()).error; return; }
  const img = new Image();
  img.onload = () => { zoneEdit.snapshot = img; drawZoneEditor(); URL.revokeObjectURL(img.src); };
  img.src = URL.createObjectURL(await res.blob());
});

// ---- start ------------------------------------------------------------------------------
$("logout").addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
  location.href = "/login";
});

(async () => {
  const { data } = await api("/api/session");
  csrf = data.csrf;
  await Promise.all([loadTraces(), loadThresholds()]);
  startLive();
  window.dwellReady = true;
})();
