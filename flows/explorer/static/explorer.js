"use strict";
// The track explorer page: plain DOM + SVG, no build step. State is exposed as window.explorer so that tests
// (and the console) can read what is drawn: every query's answer and, in the SVG, one circle per frame with
// data-t, data-x, data-y and data-occluded.

const COLOURS = ["#ff5252", "#40c4ff", "#ffd740", "#69f0ae", "#e040fb", "#ff9100", "#18ffff", "#b2ff59",
  "#f48fb1", "#8c9eff"];
const SVG_NS = "http://www.w3.org/2000/svg";
const DISPLAY_SIDE = 640;
const state = { ready: false, meta: null, frame: 0, frameUrls: [], queries: [], truth: null, timer: null, scale: 1 };
window.explorer = state;

const $ = (id) => document.getElementById(id);

async function api(path) {
  const response = await fetch(path);
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`;
    try { reason = (await response.json()).error || reason; } catch (ignored) { /* not JSON */ }
    throw new Error(reason);
  }
  return response.headers.get("Content-Type").startsWith("application/json") ? response.json() : response.blob();
}

function showStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function table(rows, columns) {
  if (!rows.length) return document.createTextNode("none");
  const element = document.createElement("table");
  const head = element.insertRow();
  for (const column of columns) head.appendChild(document.createElement("th")).textContent = column;
  for (const row of rows) {
    const line = element.insertRow();
    for (const column of columns) {
      const value = row[column];
      line.insertCell().textContent = typeof value === "number" ? value.toFixed(2) : (value ?? "-");
    }
  }
  return element;
}

async function init() {
  const meta = await api("/api/meta");
  state.meta = meta;
  document.title = `omnimotion view: ${meta.title}`;
  $("title").textContent = `${meta.title}: ${meta.num_frames} frames, ${meta.width}x${meta.height}`;
  $("origin").textContent = meta.origin;
  $("slider").max = meta.num_frames - 1;
  for (const method of meta.methods) $("method").add(new Option(method.label, method.key));
  $("show-depth").disabled = !meta.has_depth;
  $("show-mask").disabled = !meta.has_mask;
  $("show-truth").disabled = !meta.has_ground_truth;
  state.scale = Math.max(1, Math.floor(DISPLAY_SIDE / Math.max(meta.width, meta.height)));
  $("frame").style.width = `${meta.width * state.scale}px`;
  $("frame").style.height = `${meta.height * state.scale}px`;
  const svg = $("tracks");
  svg.setAttribute("viewBox", `-0.5 -0.5 ${meta.width} ${meta.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.appendChild(svgElement("g", { id: "truth-layer" }));
  const blobs = await Promise.all([...Array(meta.num_frames).keys()].map((t) => api(`/api/frame?frame=${t}`)));
  state.frameUrls = blobs.map((blob) => URL.createObjectURL(blob));
  const metricColumns = ["method", "AJ", "delta_avg", "OA", "TC"];
  $("metrics").appendChild(table(meta.metrics, metricColumns));
  const runColumns = [...new Set(meta.runs.flatMap((row) => Object.keys(row)))];
  $("runs").appendChild(table(meta.runs, runColumns));
  svg.addEventListener("click", onClick);
  $("slider").addEventListener("input", () => setFrame(Number($("slider").value)));
  $("play").addEventListener("click", togglePlay);
  $("clear").addEventListener("click", clearQueries);
  $("show-depth").addEventListener("change", updateOverlays);
  $("show-mask").addEventListener("change", updateOverlays);
  $("show-truth").addEventListener("change", updateTruth);
  await setFrame(0);
  state.ready = true;
}

function onClick(event) {
  const rect = $("tracks").getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * state.meta.width - 0.5;
  const y = ((event.clientY - rect.top) / rect.height) * state.meta.height - 0.5;
  query(state.frame, x, y);
}

async function query(frame, x, y) {
  const method = $("method").value;
  const started = performance.now();
  try {
    const answer = await api(`/api/track?method=${encodeURIComponent(method)}&frame=${frame}&x=${x}&y=${y}`);
    const record = { id: state.queries.length, colour: COLOURS[state.queries.length % COLOURS.length], answer };
    state.queries.push(record);
    drawQuery(record);
    listQuery(record);
    const took = Math.round(performance.now() - started);
    showStatus(`Tracked (${x.toFixed(1)}, ${y.toFixed(1)}) of frame ${frame} with ${method} in ${took} ms.`);
  } catch (error) {
    showStatus(`Could not track (${x.toFixed(1)}, ${y.toFixed(1)}) of frame ${frame}: ${error.message}`, true);
  }
}

function drawQuery(record) {
  const { answer, colour, id } = record;
  const radius = 3 / state.scale;
  const group = svgElement("g", { class: "track", "data-query": id, "data-method": answer.method,
    "data-frame": answer.frame, "data-x": answer.x, "data-y": answer.y });
  const points = answer.points;
  for (let t = 0; t + 1 < points.length; t += 1) {
    const hidden = points[t].occluded || points[t + 1].occluded;
    group.appendChild(svgElement("line", { class: `segment ${hidden ? "occluded" : "visible"}`, stroke: colour,
      x1: points[t].x, y1: points[t].y, x2: points[t + 1].x, y2: points[t + 1].y }));
  }
  if (answer.ground_truth) {
    const visible = answer.ground_truth.filter((p) => !p.occluded).map((p) => `${p.x},${p.y}`).join(" ");
    group.appendChild(svgElement("polyline", { class: "truth", points: visible }));
  }
  for (const point of points) {
    group.appendChild(svgElement("circle", { class: `point ${point.occluded ? "occluded" : "visible"}`,
      cx: point.x, cy: point.y, r: radius, fill: colour, stroke: colour, "data-t": point.t, "data-x": point.x,
      "data-y": point.y, "data-occluded": point.occluded }));
  }
  $("tracks").appendChild(group);
  updateTruth();
  markCurrent();
}

function listQuery(record) {
  const { answer, colour } = record;
  const item = document.createElement("li");
  const swatch = item.appendChild(document.createElement("span"));
  swatch.className = "swatch";
  swatch.style.background = colour;
  const hidden = answer.points.filter((p) => p.occluded).length;
  let text = `${answer.method} at frame ${answer.frame} (${answer.x.toFixed(1)}, ${answer.y.toFixed(1)}): `
    + `${hidden} of ${answer.points.length} frames occluded`;
  if (answer.picked !== undefined) text += `; stored track #${answer.picked}, ${answer.distance.toFixed(1)} px away`;
  item.appendChild(document.createTextNode(text));
  $("queries").appendChild(item);
}

function clearQueries() {
  state.queries = [];
  for (const group of [...$("tracks").querySelectorAll("g.track")]) group.remove();
  $("queries").replaceChildren();
}

function markCurrent() {
  const radius = 3 / state.scale;
  for (const circle of $("tracks").querySelectorAll("circle.point")) {
    const current = Number(circle.dataset.t) === state.frame;
    circle.classList.toggle("current", current);
    circle.setAttribute("r", current ? 2 * radius : radius);
  }
}

async function loadOverlay(image, enabled, path) {
  image.hidden = !enabled;
  if (!enabled) return;
  try {
    const blob = await api(path);
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(blob);
  } catch (error) {
    image.hidden = true;
    showStatus(`${image.alt} unavailable: ${error.message}`, true);
  }
}

function updateOverlays() {
  loadOverlay($("depth"), $("show-depth").checked, `/api/depth?frame=${state.frame}`);
  loadOverlay($("mask"), $("show-mask").checked, `/api/mask?frame=${state.frame}`);
}

async function updateTruth() {
  const layer = document.getElementById("truth-layer");
  const shown = $("show-truth").checked;
  for (const line of $("tracks").querySelectorAll(".truth")) line.style.display = shown ? "" : "none";
  layer.replaceChildren();
  if (!shown) return;
  try {
    state.truth = state.truth || await api("/api/ground_truth");
  } catch (error) {
    showStatus(`ground truth unavailable: ${error.message}`, true);
    return;
  }
  const side = 4 / state.scale;
  for (const track of state.truth.tracks) {
    const point = track[state.frame];
    if (point.occluded) continue;
    layer.appendChild(svgElement("rect", { class: "truth-point", x: point.x - side / 2, y: point.y - side / 2,
      width: side, height: side }));
  }
}

async function setFrame(frame) {
  state.frame = frame;
  $("slider").value = frame;
  $("frame-label").textContent = `frame ${frame} / ${state.meta.num_frames - 1}`;
  $("frame").src = state.frameUrls[frame];
  markCurrent();
  updateOverlays();
  await updateTruth();
}

function togglePlay() {
  if (state.timer !== null) {
    clearInterval(state.timer);
    state.timer = null;
    $("play").textContent = "Play";
    return;
  }
  $("play").textContent = "Pause";
  state.timer = setInterval(() => setFrame((state.frame + 1) % state.meta.num_frames), 1000 / state.meta.fps);
}

init().catch((error) => showStatus(`The explorer could not start: ${error.message}`, true));
