// facteur dashboard: segments coloured by indicator (vector tiles from PostGIS), detail and
// series on click, the priority list linked to the map, per-van replay, fleet health, exports.
// State lives in the URL query (view, ind, period, from, to, seg, lon, lat, z, day, van, t).
"use strict";

const GREY = "#b0b0b0";
const PALETTE = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"];
const state = Object.fromEntries(new URLSearchParams(location.search));
state.view = state.view || "map";
state.ind = state.ind || "iri";
state.period = state.period || "month";
let catalog = {};
let map;

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };

function saveState() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  history.replaceState(null, "", "?" + q.toString());
  updateExports();
}

function rangeQuery() {
  const q = new URLSearchParams({ period: state.period });
  if (state.from) q.set("from", state.from);
  if (state.to) q.set("to", state.to);
  return q;
}

async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function colours(ind) {
  return ind.higher_is_better ? PALETTE.slice().reverse() : PALETTE;
}

function colourExpression(name) {
  const ind = catalog[name];
  const cols = colours(ind);
  const step = ["step", ["to-number", ["get", name]], cols[0]];
  ind.stops.forEach((s, i) => step.push(s, cols[Math.min(i + 1, cols.length - 1)]));
  return ["case", ["has", name], step, GREY];
}

function fmt(v, ind) {
  if (v === null || v === undefined) return null;
  const d = ind ? ind.decimals : 1;
  return Number(v).toFixed(d);
}

function renderLegend() {
  const ind = catalog[state.ind];
  const cols = colours(ind);
  const unit = ind.unit ? " " + ind.unit : "";
  const rows = [];
  const s = ind.stops;
  rows.push([cols[0], "< " + s[0] + unit]);
  for (let i = 0; i < s.length - 1; i++) rows.push([cols[i + 1], s[i] + "–" + s[i + 1] + unit]);
  rows.push([cols[Math.min(s.length, cols.length - 1)], "≥ " + s[s.length - 1] + unit]);
  rows.push([GREY, ind.air
    ? "not enough data (< 4 days)" : "no data"]);
  $("legend").innerHTML = "<b>" + ind.label + (ind.unit ? " (" + ind.unit + ")" : "") + "</b>" +
    rows.map(([c, t]) => `<div class="row"><span class="swatch" style="background:${c}"></span>${t}</div>`).join("");
  $("legend").dataset.indicator = ind.name;
}

function tileURL() {
  return location.origin + "/v1/tiles/{z}/{x}/{y}.pbf?" + rangeQuery().toString();
}

function setIndicator(name) {
  state.ind = name;
  $("indicator").value = name;
  map.setPaintProperty("segments", "line-color", colourExpression(name));
  renderLegend();
  saveState();
  if (state.seg) showDetail(state.seg, false);
}

function setRange() {
  map.getSource("segments").setTiles([tileURL()]);
  saveState();
  loadPriority();
  if (state.seg) showDetail(state.seg, false);
}

function updateExports() {
  if (!map) return;
  const b = map.getBounds();
  const q = rangeQuery();
  q.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(","));
  $("export-csv").href = "/v1/export/segments.csv?" + q.toString();
  q.set("indicator", state.ind);
  $("export-geojson").href = "/v1/export/segments.geojson?" + q.toString();
}

const PAD = { top: 60, bottom: 60, left: 60, right: 400 };

function fit(west, south, east, north, maxZoom) {
  map.fitBounds([[west, south], [east, north]], { padding: PAD, maxZoom: maxZoom || 17, duration: 0 });
}

function sparkline(series, name) {
  const pts = series.map((r, i) => [i, r[name]]).filter(([, v]) => v !== null && v !== undefined);
  if (pts.length === 0) return `<p class="nodata">no daily values of ${catalog[name].label} in this range</p>`;
  const vals = pts.map(([, v]) => v);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const n = Math.max(series.length - 1, 1);
  const xy = pts.map(([i, v]) => [5 + (i / n) * 290, 70 - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * 60]);
  const path = xy.map(([x, y], i) => (i ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1)).join("");
  const dots = xy.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2.5"/>`).join("");
  return `<svg viewBox="0 0 300 80" id="series"><path d="${path}" fill="none" stroke="#3a5a7a" stroke-width="1.5"/>` +
    `<g fill="#3a5a7a">${dots}</g><text x="4" y="10" font-size="9">${fmt(hi, catalog[name])}</text>` +
    `<text x="4" y="78" font-size="9">${fmt(lo, catalog[name])}</text></svg>` +
    `<div class="nodata">${series[0].period_start} … ${series[series.length - 1].period_start}, per day` +
    (catalog[name].air ? " (median of the day's passes; published values need ≥ 4 days)" : "") + "</div>";
}

async function showDetail(sid, fly) {
  state.seg = sid;
  saveState();
  map.setFilter("selected", ["==", ["get", "sid"], sid]);
  document.querySelectorAll("#priority li").forEach((li) => li.classList.toggle("selected", li.dataset.sid === sid));
  let d;
  try {
    d = await getJSON(`/v1/segments/${sid}?` + rangeQuery().toString());
  } catch (e) {
    status(String(e));
    return;
  }
  const rows = Object.values(catalog).map((ind) => {
    const v = fmt(d[ind.name], ind);
    return `<tr><td>${ind.label}</td><td>${v === null ? '<span class="nodata">no data</span>' : v + " " + ind.unit}</td></tr>`;
  }).join("");
  const holes = d.pothole_clusters.filter((c) => c.confirmed)
    .map((c) => `<li>at ${c.offset.toFixed(0)} m, seen on ${c.passes} passes, severity ${c.severity}</li>`).join("");
  $("detail").innerHTML = `<h2 id="detail-title">${d.name || "(unnamed)"} <small>${d.road_class}, ${d.length_m.toFixed(0)} m</small></h2>` +
    `<table>${rows}<tr><td>Last measured</td><td>${d.last_measured || "never"}</td></tr>` +
    `<tr><td>IRI confidence</td><td>${d.iri_confidence ?? "–"}</td></tr></table>` +
    `<h2>${catalog[state.ind].label} by day</h2>` + sparkline(d.series, state.ind) +
    (holes ? `<h2>Confirmed potholes</h2><ul>${holes}</ul>` : "");
  $("detail").hidden = false;
  $("detail").dataset.sid = sid;
  if (fly && d.geometry) {
    const cs = d.geometry.coordinates;
    const lons = cs.map((c) => c[0]), lats = cs.map((c) => c[1]);
    fit(Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats));
  }
}

async function loadPriority() {
  const body = await getJSON("/v1/priority?limit=30&" + rangeQuery().toString());
  const ol = $("priority");
  ol.innerHTML = "";
  if (body.entries.length === 0) ol.innerHTML = '<li class="nodata">nothing to fix in this range</li>';
  for (const e of body.entries) {
    const li = document.createElement("li");
    li.dataset.sid = e.sid;
    li.innerHTML = `<b>${e.name || "(unnamed)"}</b> <small>score ${e.score}</small>` +
      `<div class="reasons">${e.reasons.join(" · ")}</div>`;
    li.addEventListener("click", () => {
      fit(e.bbox[0], e.bbox[1], e.bbox[2], e.bbox[3]);
      showDetail(e.sid, false);
    });
    ol.appendChild(li);
  }
}

// -- replay ---------------------------------------------------------------------------------
let replay = null;

async function loadReplayDays() {
  const body = await getJSON("/v1/replay" + (state.day ? "?day=" + state.day : ""));
  $("replay-day").innerHTML = body.days.map((d) => `<option>${d}</option>`).join("");
  state.day = body.day || "";
  $("replay-day").value = state.day;
  $("replay-device").innerHTML = body.devices.map((d) => `<option>${d.device_id}</option>`).join("");
  if (!state.van || !body.devices.some((d) => d.device_id === state.van)) state.van = body.devices.length ? body.devices[0].device_id : "";
  $("replay-device").value = state.van;
  if (state.van) await loadReplay();
}

async function loadReplay() {
  saveState();
  replay = await getJSON(`/v1/replay/${encodeURIComponent(state.van)}?day=${state.day}`);
  map.getSource("replay-line").setData({ type: "Feature", geometry: replay.line, properties: {} });
  const s = $("replay-slider");
  s.max = String(replay.n - 1);
  s.value = String(Math.min(Number(state.t || 0), replay.n - 1));
  const cs = replay.line.coordinates.flat();
  if (cs.length) {
    const lons = cs.map((c) => c[0]), lats = cs.map((c) => c[1]);
    fit(Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats), 18);
  }
  moveReplay();
}

function moveReplay() {
  if (!replay) return;
  const i = Number($("replay-slider").value);
  state.t = String(i);
  const p = replay.points;
  const when = new Date(p.t[i] * 1000).toISOString().slice(11, 19);
  const speed = p.speed[i] === null ? "–" : (p.speed[i] * 3.6).toFixed(0) + " km/h";
  $("replay-info").textContent = `${when} UTC · ${speed} · ${p.matched[i] ? "matched" : "unmatched"}`;
  map.getSource("replay-point").setData({
    type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [p.lon[i] ?? 0, p.lat[i] ?? 0] },
  });
  saveState();
}

// -- fleet ----------------------------------------------------------------------------------
// Values come from devices (e.g. the firmware version a board reports): text, never markup.
const esc = (v) => String(v).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function table(id, rows, cols, bad) {
  $(id).querySelector("thead").innerHTML = "<tr>" + cols.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  $(id).querySelector("tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => {
    const v = r[c];
    return `<td class="${bad && bad(c, v) ? "bad" : ""}">${v === null || v === undefined ? "–" : esc(v)}</td>`;
  }).join("") + "</tr>").join("") || `<tr><td colspan="${cols.length}">none registered</td></tr>`;
}

async function loadFleet() {
  const [d, g] = await Promise.all([getJSON("/v1/fleet/devices"), getJSON("/v1/fleet/gateways")]);
  table("fleet-devices", d.devices, ["device_id", "depot", "vehicle", "last_seen", "last_sync", "last_gateway",
    "backlog_s", "flash_used_kb", "dropped_blocks", "firmware_version", "booted_at", "reset_cause", "errors"],
    (c, v) => (c === "errors" && v > 0) || (c === "reset_cause" && v === "watchdog"));
  table("fleet-gateways", g.gateways, ["gateway_id", "depot", "last_seen", "last_sync", "chunks_24h", "devices_24h"]);
}

// -- views and start-up -------------------------------------------------------------------
function setView(view) {
  state.view = view;
  for (const v of ["map", "replay", "fleet"]) {
    $(v + "-view").hidden = v !== view;
    $("nav-" + v).classList.toggle("active", v === view);
  }
  $("controls").style.visibility = view === "map" ? "visible" : "hidden";
  const replayOn = view === "replay" ? "visible" : "none";
  if (map.getLayer("replay-line")) {
    map.setLayoutProperty("replay-line", "visibility", replayOn);
    map.setLayoutProperty("replay-point", "visibility", replayOn);
  }
  saveState();
  if (view === "replay") loadReplayDays().catch((e) => status(String(e)));
  if (view === "fleet") loadFleet().catch((e) => status(String(e)));
}

async function start() {
  const info = await getJSON("/v1/indicators");
  for (const ind of info.indicators) catalog[ind.name] = ind;
  if (!catalog[state.ind]) state.ind = "iri";
  $("indicator").innerHTML = info.indicators.map((i) => `<option value="${i.name}">${i.label}</option>`).join("");
  $("indicator").value = state.ind;
  $("period").value = state.period;
  $("from").value = state.from || "";
  $("to").value = state.to || "";
  const ext = info.extent || [24.90, 60.15, 24.98, 60.19];
  const view = state.lon && state.lat && state.z
    ? { center: [Number(state.lon), Number(state.lat)], zoom: Number(state.z) }
    : { bounds: [[ext[0], ext[1]], [ext[2], ext[3]]], fitBoundsOptions: { padding: { top: 40, bottom: 40, left: 40, right: 380 } } };
  map = new maplibregl.Map({
    container: "map",
    ...view,
    minZoom: 10,
    style: {
      version: 8,
      sources: { segments: { type: "vector", tiles: [tileURL()], minzoom: 10, maxzoom: 16 } },
      layers: [{ id: "background", type: "background", paint: { "background-color": "#f2efe9" } }],
    },
    attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
  map.on("load", () => {
    map.addLayer({
      id: "segments", type: "line", source: "segments", "source-layer": "segments",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": colourExpression(state.ind), "line-width": ["interpolate", ["linear"], ["zoom"], 12, 2, 17, 7],
        "line-offset": ["interpolate", ["linear"], ["zoom"], 12, 0.8, 17, 2.5] },
    });
    map.addLayer({
      id: "selected", type: "line", source: "segments", "source-layer": "segments",
      filter: ["==", ["get", "sid"], state.seg || ""],
      paint: { "line-color": "#0050ff", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 4, 17, 11], "line-opacity": 0.5,
        "line-offset": ["interpolate", ["linear"], ["zoom"], 12, 0.8, 17, 2.5] },
    }, "segments");
    map.addSource("replay-line", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addSource("replay-point", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "replay-line", type: "line", source: "replay-line", paint: { "line-color": "#5a2ca0", "line-width": 3 } });
    map.addLayer({ id: "replay-point", type: "circle", source: "replay-point",
      paint: { "circle-radius": 7, "circle-color": "#fc0", "circle-stroke-color": "#000", "circle-stroke-width": 2 } });
    map.on("click", "segments", (e) => showDetail(e.features[0].properties.sid, false));
    map.on("mouseenter", "segments", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "segments", () => { map.getCanvas().style.cursor = ""; });
    map.on("moveend", () => {
      const c = map.getCenter();
      Object.assign(state, { lon: c.lng.toFixed(5), lat: c.lat.toFixed(5), z: map.getZoom().toFixed(2) });
      saveState();
    });
    map.on("idle", () => { document.body.dataset.mapIdle = "1"; });
    renderLegend();
    setView(state.view);
    loadPriority().catch((e) => status(String(e)));
    if (state.seg) showDetail(state.seg, false);
    window.facteurMap = map;
    document.body.dataset.ready = "1";
  });
  $("indicator").addEventListener("change", (e) => setIndicator(e.target.value));
  $("period").addEventListener("change", (e) => { state.period = e.target.value; setRange(); });
  $("from").addEventListener("change", (e) => { state.from = e.target.value; setRange(); });
  $("to").addEventListener("change", (e) => { state.to = e.target.value; setRange(); });
  $("replay-day").addEventListener("change", (e) => { state.day = e.target.value; state.t = "0"; loadReplayDays(); });
  $("replay-device").addEventListener("change", (e) => { state.van = e.target.value; state.t = "0"; loadReplay(); });
  $("replay-slider").addEventListener("input", moveReplay);
  document.querySelectorAll("nav a").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    setView(a.dataset.view);
  }));
}

if (typeof maplibregl === "undefined") {
  status("MapLibre GL is not installed: run `make dashboard-assets`");
} else {
  start().catch((e) => status(String(e)));
}
