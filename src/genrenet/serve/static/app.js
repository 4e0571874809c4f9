// genrenet serve's page: files queue one after another; each is uploaded to /v1/predict (with
// its timeline) and /v1/tag, then shown as bars, a coloured timeline, tags and a player.
"use strict";

const COLORS = {
  blues: "#1f5fa8", classical: "#8e6c3a", country: "#c9831a", disco: "#c23b8a",
  hiphop: "#6b3fa0", jazz: "#1a8f83", metal: "#3b3f46", pop: "#e0527a",
  reggae: "#3f9b3a", rock: "#c4402f",
};
const PALETTE = ["#1f5fa8", "#c4402f", "#3f9b3a", "#c9831a", "#6b3fa0", "#1a8f83",
  "#c23b8a", "#8e6c3a", "#3b3f46", "#e0527a", "#5a7d9a", "#9a8c2c"];

const state = { token: sessionStorage.getItem("genrenet-token") || "", labels: [], tagger: false,
  queue: [], busy: false };
const $ = (sel, root = document) => root.querySelector(sel);

function colorOf(label) {
  if (COLORS[label]) return COLORS[label];
  const i = state.labels.indexOf(label);
  return PALETTE[(i >= 0 ? i : label.length) % PALETTE.length];
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

const pct = (x) => Math.round(x * 100) + "%";

function authHeaders() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

function showNotice(text) {
  const notice = $("#notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

async function loadModels() {
  try {
    const res = await fetch("/v1/models", { headers: authHeaders() });
    if (res.status === 401) {
      $("#token-form").hidden = false;
      $("#model").textContent = "Enter this server's token to use it.";
      return;
    }
    const body = await res.json();
    if (!res.ok) {
      $("#model").textContent = body.detail || "The model is not ready yet.";
      if (res.status === 503) setTimeout(loadModels, 2000);
      return;
    }
    $("#token-form").hidden = true;
    const genres = body.models.find((m) => m.kind === "genres");
    state.labels = genres ? genres.labels : [];
    state.tagger = body.models.some((m) => m.kind === "tags");
    $("#model").textContent = genres
      ? `Model ${genres.name}: ${genres.labels.length} genres (${genres.labels.join(", ")}), ` +
        `${genres.window_seconds} s windows.` + (state.tagger ? " With musicnn tags." : "")
      : "No genre model loaded.";
  } catch (err) {
    $("#model").textContent = "Cannot reach the server: " + err.message;
  }
}

// One upload with progress: XMLHttpRequest reports upload progress, fetch does not.
function upload(url, file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => resolve({ status: 0, body: { detail: "the connection to the server failed" } });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

function errorText(res) {
  const detail = res.body && (res.body.detail || res.body.error);
  return `Error ${res.status || ""}: ${detail || "the server gave no reason"}`.replace("  ", " ");
}

function addFiles(files) {
  showNotice("");
  for (const file of files) {
    const node = $("#result-template").content.firstElementChild.cloneNode(true);
    $(".name", node).textContent = file.name;
    $(".status", node).textContent = "Waiting in the queue";
    $(".progress", node).value = 0;
    $("#results").prepend(node);
    state.queue.push({ file, node });
  }
  runQueue();
}

async function runQueue() {
  if (state.busy) return;
  state.busy = true;
  while (state.queue.length) {
    const item = state.queue.shift();
    await analyse(item.file, item.node);
  }
  state.busy = false;
}

async function analyse(file, node) {
  const status = $(".status", node), progress = $(".progress", node);
  status.textContent = "Uploading\u2026";
  const res = await upload("/v1/predict?timeline=true&top_k=3", file, (f) => {
    progress.value = Math.round(f * 100);
    status.textContent = f < 1 ? `Uploading\u2026 ${pct(f)}` : "Analysing the whole song\u2026";
    if (f >= 1) progress.removeAttribute("value");
  });
  if (res.status !== 200) {
    if (res.status === 401) { $("#token-form").hidden = false; }
    return fail(node, errorText(res));
  }
  showPrediction(node, file, res.body);
  if (state.tagger) {
    status.textContent = "Tagging\u2026";
    const tags = await upload("/v1/tag?top_k=10", file, () => {});
    if (tags.status === 200) showTags(node, tags.body);
    else {
      $(".error", node).textContent = "Tags: " + errorText(tags);
      $(".error", node).hidden = false;
    }
  }
  progress.hidden = true;
  status.textContent = `${clock(res.body.duration)} \u00b7 ${res.body.timeline.length} windows \u00b7 ` +
    `top genre ${res.body.top[0].label} (${pct(res.body.top[0].score)})`;
}

function fail(node, text) {
  $(".progress", node).hidden = true;
  $(".status", node).textContent = "Failed";
  const err = $(".error", node);
  err.textContent = text;
  err.hidden = false;
  node.classList.add("failed");
}

function showPrediction(node, file, body) {
  $(".body", node).hidden = false;
  const bars = $(".bars", node);
  bars.replaceChildren(...body.top.map((t) => {
    const row = document.createElement("div");
    row.className = "bar";
    row.setAttribute("role", "listitem");
    row.setAttribute("aria-label", `${t.label} ${pct(t.score)}`);
    row.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="score"></span>';
    $(".label", row).textContent = t.label;
    $(".fill", row).style.cssText = `display:block;width:${(t.score * 100).toFixed(1)}%;background:${colorOf(t.label)}`;
    $(".score", row).textContent = pct(t.score);
    return row;
  }));
  drawTimeline(node, body);
  const player = $(".player", node);
  player.src = URL.createObjectURL(file);
  player.setAttribute("aria-label", "Play " + file.name);
  player.addEventListener("timeupdate", () => movePlayhead(node, body, player.currentTime));
  $(".timeline", node).addEventListener("click", (e) => {
    const box = e.currentTarget.getBoundingClientRect();
    player.currentTime = ((e.clientX - box.left) / box.width) * body.duration;
    movePlayhead(node, body, player.currentTime);
  });
}

function drawTimeline(node, body) {
  const strip = $(".timeline", node), marks = $(".marks", node);
  const total = body.duration || (body.timeline.length ? body.timeline.at(-1).end : 1);
  const counts = {};
  let previousEnd = 0;
  const segments = body.timeline.map((w) => {
    const seg = document.createElement("div");
    const best = w.top[0];
    counts[best.label] = (counts[best.label] || 0) + 1;
    const start = Math.max(w.start, previousEnd); // overlapping windows: each shows its new part
    const end = Math.min(Math.max(w.end, start), total);
    previousEnd = end;
    seg.className = "seg";
    seg.style.flex = `0 0 ${((end - start) / total) * 100}%`;
    seg.style.background = colorOf(best.label);
    seg.title = `${clock(w.start)}\u2013${clock(w.end)}: ` +
      w.top.map((t) => `${t.label} ${pct(t.score)}`).join(", ");
    return seg;
  });
  strip.replaceChildren(...segments);
  const order = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  strip.setAttribute("aria-label", "Genre along the song: " +
    order.map(([l, n]) => `${l} in ${n} of ${body.timeline.length} windows`).join(", "));
  const step = niceStep(total);
  const ticks = [];
  for (let t = 0; t < total - step * 0.4; t += step) ticks.push(t);
  ticks.push(total);
  marks.replaceChildren(...ticks.map((t, i) => {
    const span = document.createElement("span");
    span.textContent = clock(t);
    span.style.left = `${(t / total) * 100}%`;
    if (i === ticks.length - 1 && i > 0) span.className = "end";
    return span;
  }));
  $(".legend", node).replaceChildren(...order.map(([label]) => {
    const span = document.createElement("span");
    span.textContent = label;
    span.style.setProperty("--swatch", colorOf(label));
    return span;
  }));
}

function niceStep(total) {
  for (const s of [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800]) if (total / s <= 8) return s;
  return 3600;
}

function movePlayhead(node, body, time) {
  const head = $(".playhead", node);
  const total = body.duration || 1;
  head.hidden = false;
  head.style.left = `${Math.min(100, (time / total) * 100)}%`;
  const w = body.timeline.find((x) => time >= x.start && time < x.end) || body.timeline.at(-1);
  if (w) {
    $(".now", node).textContent = `At ${clock(time)}: ` +
      w.top.map((t) => `${t.label} ${pct(t.score)}`).join(", ");
  }
}

function showTags(node, body) {
  const list = $(".tags", node);
  list.replaceChildren(...body.top.map((t) => {
    const li = document.createElement("li");
    li.textContent = t.label;
    const b = document.createElement("b");
    b.textContent = pct(t.score);
    li.append(b);
    return li;
  }));
  list.hidden = false;
  $(".tags-title", node).hidden = false;
}

function setUp() {
  const drop = $("#drop"), input = $("#files");
  input.addEventListener("change", () => { addFiles([...input.files]); input.value = ""; });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => addFiles([...e.dataTransfer.files]));
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("#token").value.trim();
    sessionStorage.setItem("genrenet-token", state.token);
    loadModels();
  });
  loadModels();
}

setUp();
