// vismic web UI: vanilla JavaScript, no dependency, nothing fetched from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { config: null, video: null, info: null, img: null, roi: null, scale: 1, job: null, timer: null, drag: null,
  jobsTimer: null };

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

function clearMessage() {
  $("message").hidden = true;
  $("message").textContent = "";
}

async function api(method, url, body = undefined, headers = {}) {
  let resp;
  try {
    resp = await fetch(url, { method, body, headers });
  } catch (err) {
    throw new Error(`cannot reach the vismic server (${err.message}); is it still running?`);
  }
  let data = null;
  try { data = await resp.json(); } catch (err) { data = null; }
  if (!resp.ok) throw new Error((data && data.error) || `the server answered ${resp.status} ${resp.statusText}`);
  return data;
}

function formatSize(bytes) {
  if (bytes >= 1e9) return (bytes / 1e9).toFixed(1) + " GB";
  if (bytes >= 1e6) return (bytes / 1e6).toFixed(1) + " MB";
  return Math.max(1, Math.round(bytes / 1e3)) + " kB";
}

// ---- video list -------------------------------------------------------------------------------
// the line an empty list shows instead of its items
function hintItem(text) {
  const li = document.createElement("li");
  li.className = "hint";
  li.textContent = text;
  return li;
}

async function loadVideos(selectId = null) {
  const list = $("videos");
  try {
    const data = await api("GET", "/api/videos");
    list.replaceChildren();
    if (!data.videos.length) list.append(hintItem("no video in this folder; upload one below"));
    for (const v of data.videos) {
      const li = document.createElement("li");
      li.dataset.id = v.id;
      li.textContent = v.name;
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = formatSize(v.size);
      li.append(size);
      li.addEventListener("click", () => selectVideo(v.id));
      if (v.id === S.video) li.classList.add("selected");
      list.append(li);
    }
    if (data.truncated) showMessage("the folder holds many files: only the first ones are listed", "info");
    if (selectId) await selectVideo(selectId);
  } catch (err) {
    list.replaceChildren();
    showMessage(err.message);
  }
}

async function selectVideo(id) {
  clearMessage();
  let info;
  try {
    info = await api("GET", "/api/video?video=" + encodeURIComponent(id));
  } catch (err) {
    showMessage(err.message);
    return;
  }
  S.video = id;
  S.info = info;
  S.roi = null;
  S.img = null;
  delete $("frame").dataset.video;
  for (const li of $("videos").children) li.classList.toggle("selected", li.dataset.id === id);
  $("video-path").value = id;
  const frames = info.n_frames ? `${info.n_frames} frames` : "frame count unknown";
  const rate = info.header_rate ? `, ${+info.header_rate.toFixed(3)} fps in the file` +
    (info.rate_is_trusted ? " (camera rate)" : " (often not the true rate)") : "";
  $("video-info").textContent = `${info.cols}×${info.rows} pixels, ${frames}${rate}`;
  // another video: its own rate, never the last one's; say where it came from
  $("fps").value = info.header_rate ? +info.header_rate.toFixed(3) : "";
  $("fps-hint").textContent = !info.header_rate
    ? "The file holds no frame rate: enter the camera's true frame rate."
    : info.rate_is_trusted
      ? "The camera file's own rate (the true capture rate)."
      : "This rate comes from the video container: high-speed cameras often store a wrong one. Check it.";
  $("fps-hint").classList.toggle("warn", !!info.header_rate && !info.rate_is_trusted);
  for (const w of info.warnings || []) showMessage(w, "info");
  const img = new Image();
  img.onload = () => {
    if (S.video !== id) return; // another video was chosen meanwhile
    S.img = img;
    layoutFrame();
    syncRoiFields();
    $("frame").dataset.video = id; // drawn: the ROI can be dragged
  };
  img.onerror = () => showMessage("the first frame could not be shown");
  img.src = "/api/frame?video=" + encodeURIComponent(id) + "&t=" + Date.now();
  $("run").disabled = isActive(S.job);
  $("progress").value = 0;
  $("progress-text").textContent = "ready";
}

// ---- first frame and ROI ----------------------------------------------------------------------
function layoutFrame() {
  if (!S.img) return;
  const canvas = $("frame");
  const avail = Math.max(240, $("frame-panel").clientWidth - 34);
  const { cols, rows } = S.info;
  S.scale = Math.min(avail / cols, 480 / rows, 8);
  canvas.width = Math.max(1, Math.round(cols * S.scale));
  canvas.height = Math.max(1, Math.round(rows * S.scale));
  draw();
}

function draw() {
  const canvas = $("frame");
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = S.scale < 1;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (S.img) ctx.drawImage(S.img, 0, 0, canvas.width, canvas.height);
  const r = S.drag ? dragRect() : S.roi;
  if (r) {
    ctx.fillStyle = "rgba(255, 200, 0, 0.18)";
    ctx.strokeStyle = "#ffc800";
    ctx.lineWidth = 2;
    const [x, y, w, h] = r.map((v) => v * S.scale);
    ctx.fillRect(x, y, w, h);
    ctx.strokeRect(x + 1, y + 1, Math.max(0, w - 2), Math.max(0, h - 2));
  }
}

function framePoint(ev) {
  const canvas = $("frame");
  const box = canvas.getBoundingClientRect();
  const px = (ev.clientX - box.left) * (canvas.width / box.width) / S.scale;
  const py = (ev.clientY - box.top) * (canvas.height / box.height) / S.scale;
  return [Math.min(Math.max(px, 0), S.info.cols), Math.min(Math.max(py, 0), S.info.rows)];
}

function dragRect() {
  const [x0, y0] = S.drag.start;
  const [x1, y1] = S.drag.end;
  const x = Math.round(Math.min(x0, x1));
  const y = Math.round(Math.min(y0, y1));
  return [x, y, Math.round(Math.max(x0, x1)) - x, Math.round(Math.max(y0, y1)) - y];
}

function syncRoiFields() {
  const r = S.roi;
  ["x", "y", "w", "h"].forEach((k, i) => { $("roi-" + k).value = r ? r[i] : ""; });
}

function readRoiFields() {
  const vals = ["x", "y", "w", "h"].map((k) => $("roi-" + k).value.trim());
  if (vals.every((v) => v === "")) return null;
  return vals.map((v) => (v === "" ? 0 : Number(v)));
}

function setupFrame() {
  const canvas = $("frame");
  canvas.addEventListener("pointerdown", (ev) => {
    if (!S.img) return;
    canvas.setPointerCapture(ev.pointerId);
    const p = framePoint(ev);
    S.drag = { start: p, end: p };
    draw();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!S.drag) return;
    S.drag.end = framePoint(ev);
    draw();
  });
  const finish = (ev) => {
    if (!S.drag) return;
    S.drag.end = framePoint(ev);
    S.roi = dragRect();
    S.drag = null;
    syncRoiFields();
    draw();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  for (const k of ["x", "y", "w", "h"]) {
    $("roi-" + k).addEventListener("input", () => { S.roi = readRoiFields(); draw(); });
  }
  $("roi-clear").addEventListener("click", () => { S.roi = null; syncRoiFields(); draw(); });
  window.addEventListener("resize", layoutFrame);
}

// ---- jobs -------------------------------------------------------------------------------------
function isActive(job) {
  return !!job && (job.state === "queued" || job.state === "running");
}

async function run() {
  clearMessage();
  if (!S.video) { showMessage("choose a video first"); return; }
  const text = $("fps").value.trim();
  const body = {
    video: S.video,
    fps: text === "" ? null : Number(text),
    roi: $("roi-auto").checked ? "auto" : S.roi,
    denoise: $("denoise").value,
    notch: $("notch").value,
    map: $("want-map").checked,
    report: $("want-report").checked,
  };
  if (!$("rolling").checked) body.mode = $("mode").value;
  body.spectrum = $("want-spectrum").checked;
  body.mux = $("want-mux").checked;
  if ($("want-magnify").checked) {
    body.magnify = { band: [Number($("mag-lo").value), Number($("mag-hi").value)], factor: Number($("mag-factor").value) };
  }
  if ($("rolling").checked) {
    body.rolling_shutter = true;
    body.camera = $("camera").value || null;
    body.line_delay = $("line-delay").value.trim() || null;
    body.exposure = $("exposure").value.trim() || null;
  }
  let job;
  try {
    job = await api("POST", "/api/jobs", JSON.stringify(body), { "Content-Type": "application/json" });
  } catch (err) {
    showMessage(err.message);
    return;
  }
  $("results").hidden = true;
  S.job = job;
  showJob(job);
  poll();
  loadJobs();
}

function poll() {
  clearTimeout(S.timer);
  S.timer = setTimeout(async () => {
    if (!S.job) return;
    try {
      const job = await api("GET", "/api/jobs/" + S.job.id);
      S.job = job;
      showJob(job);
      if (isActive(job)) poll(); else { finished(job); loadJobs(); }
    } catch (err) {
      showMessage(err.message);
      S.job = null;
      $("run").disabled = false;
      $("cancel").disabled = true;
    }
  }, 250);
}

function showJob(job) {
  const bar = $("progress");
  const active = isActive(job);
  $("run").disabled = active;
  $("cancel").disabled = !active;
  if (job.state === "done") {
    bar.value = 1;
  } else if (job.state === "running" && job.total) {
    bar.value = Math.min(1, job.done / job.total);
  } else if (job.state === "running") {
    bar.removeAttribute("value"); // indeterminate: frame count unknown, or saving
  }
  let text = job.stage;
  if (job.state === "running" && (job.done || job.total)) {
    text += `: ${job.done}` + (job.total ? ` / ${job.total}` : "") + " frames";
  }
  $("progress-text").textContent = text;
}

function finished(job) {
  if (job.state === "done") {
    showResults(job);
  } else if (job.state === "cancelled") {
    $("progress").value = 0;
    showMessage(job.message, "info");
  } else {
    $("progress").value = 0;
    showMessage(job.message || "the job failed");
  }
}

function showResults(job) {
  const out = job.outputs;
  const s = job.summary;
  $("results").hidden = false;
  $("player").src = out.listen ? out.listen.url : "";
  $("spectrogram").src = out.spectrogram ? out.spectrogram.url : "";
  $("map-figure").hidden = !out.map;
  if (out.map) $("map").src = out.map.url;
  $("spectrum-figure").hidden = !out.spectrum;
  if (out.spectrum) $("spectrum").src = out.spectrum.url;
  $("magnified-figure").hidden = !out.magnified;
  $("magnified").src = out.magnified ? out.magnified.url : "";
  const labels = {
    wav: `WAV (${+s.rate.toFixed(3)} Hz, true rate)`, listen: "WAV (44.1 kHz copy)", json: "JSON sidecar",
    spectrogram: "spectrogram PNG", map: "vibration map PNG", report: "report", spectrum: "motion spectrum PNG",
    mux: "video with the sound", magnified: "magnified video",
  };
  const list = $("downloads");
  list.replaceChildren();
  for (const key of ["wav", "listen", "json", "spectrogram", "map", "report", "spectrum", "mux", "magnified"]) {
    if (!out[key]) continue;
    const a = document.createElement("a");
    a.id = "dl-" + key;
    a.textContent = labels[key];
    if (key === "report") {
      a.href = out[key].url;
      a.target = "_blank";
    } else {
      a.href = out[key].url + "?download=1";
      a.download = out[key].name;
    }
    const li = document.createElement("li");
    li.append(a);
    list.append(li);
  }
  const snr = (s.estimated_snr_db == null ? "n/a" : s.estimated_snr_db.toFixed(1) + " dB") +
    (s.rolling_shutter ? `; rolling shutter: line delay ${(s.line_delay_s * 1e6).toPrecision(4)} µs, ` +
      `${(100 * s.filled_fraction).toFixed(0)} % of the samples filled, band ${s.band_hz.toFixed(0)} Hz; ` +
      s.line_delay_check : "");
  $("summary").textContent = `${s.n_samples} samples at ${+s.rate.toFixed(3)} Hz (${s.duration_s.toFixed(2)} s) ` +
    `from ${s.frames_used} frames, ROI ${s.roi.join(",")}; estimated SNR ${snr}; ${s.seconds.toFixed(1)} s` +
    (s.lines_detected.length ? `; mains-like lines at ${s.lines_detected.join(", ")} Hz` : "") +
    (s.peaks ? (s.peaks.length ? "; motion peaks at " + s.peaks.map((p) => p.hz.toFixed(1) + " Hz").join(", ")
      : "; no motion peak stands out of the noise") : "");
  const warn = $("job-warnings");
  warn.replaceChildren();
  for (const w of job.warnings) {
    const li = document.createElement("li");
    li.textContent = w;
    warn.append(li);
  }
}

async function cancel(id = null) {
  const jobId = id || (S.job && S.job.id);
  if (!jobId) return;
  try {
    const job = await api("POST", `/api/jobs/${jobId}/cancel`);
    if (S.job && S.job.id === jobId) showJob(job);
    loadJobs();
  } catch (err) {
    showMessage(err.message);
  }
}

// ---- the job list: the server keeps every job, so a reloaded page shows them again -----------
async function loadJobs() {
  let data;
  try {
    data = await api("GET", "/api/jobs");
  } catch (err) {
    return; // the single-job view says what is wrong
  }
  const list = $("jobs");
  list.replaceChildren();
  if (!data.jobs.length) list.append(hintItem("no job yet"));
  for (const job of data.jobs) {
    const li = document.createElement("li");
    li.dataset.id = job.id;
    li.className = "job " + job.state;
    const title = document.createElement("span");
    title.textContent = `${job.name}: ${job.state === "running" ? job.stage : job.state}` +
      (job.state === "running" && job.total ? ` (${Math.round(100 * job.done / job.total)} %)` : "");
    li.append(title);
    if (job.state === "done") {
      const show = document.createElement("button");
      show.type = "button";
      show.className = "show-job";
      show.textContent = "Show";
      show.addEventListener("click", () => { S.job = job; showJob(job); showResults(job); });
      li.append(show);
      const wav = job.outputs.wav;
      if (wav) {
        const a = document.createElement("a");
        a.href = wav.url + "?download=1";
        a.download = wav.name;
        a.textContent = "WAV";
        li.append(a);
      }
    } else if (isActive(job)) {
      const stop = document.createElement("button");
      stop.type = "button";
      stop.className = "cancel-job";
      stop.textContent = "Cancel";
      stop.addEventListener("click", () => cancel(job.id));
      li.append(stop);
    } else if (job.message) {
      const why = document.createElement("span");
      why.className = "hint";
      why.textContent = " " + job.message;
      li.append(why);
    }
    list.append(li);
  }
  const running = data.jobs.find(isActive);
  if (running && !isActive(S.job)) { S.job = running; showJob(running); poll(); } // after a reload
  clearTimeout(S.jobsTimer);
  if (running) S.jobsTimer = setTimeout(loadJobs, 1000);
}

// ---- upload -----------------------------------------------------------------------------------
async function upload(ev) {
  ev.preventDefault();
  clearMessage();
  const file = $("upload-file").files[0];
  if (!file) { showMessage("choose a file to upload"); return; }
  const limit = S.config ? S.config.max_upload_bytes : Infinity;
  if (file.size > limit) {
    showMessage(`${file.name} is ${formatSize(file.size)}; uploads are limited to ${formatSize(limit)} ` +
      "(restart vismic serve with --max-upload-mb, or put the video in the served folder)");
    return;
  }
  $("upload").disabled = true;
  try {
    const item = await api("POST", "/api/upload?name=" + encodeURIComponent(file.name), file,
      { "Content-Type": "application/octet-stream" });
    await loadVideos(item.id);
  } catch (err) {
    showMessage(err.message);
  } finally {
    $("upload").disabled = false;
  }
}

async function init() {
  setupFrame();
  $("run").addEventListener("click", run);
  $("rolling").addEventListener("change", () => {
    $("rs-options").hidden = !$("rolling").checked;
    $("mode").disabled = $("rolling").checked; // one path for rolling-shutter video
    if ($("rolling").checked) $("fps-hint").textContent = "Enter the exact frame rate (59.94 is not 60).";
  });
  $("cancel").addEventListener("click", () => cancel());
  $("want-magnify").addEventListener("change", () => {
    $("mag-options").hidden = !$("want-magnify").checked;
    $("mag-hint").hidden = !$("want-magnify").checked;
  });
  $("upload-form").addEventListener("submit", upload);
  $("open-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    selectVideo($("video-path").value.trim());
  });
  try {
    S.config = await api("GET", "/api/config");
    $("folder").textContent = S.config.folder;
    $("upload-limit").textContent = `uploads up to ${formatSize(S.config.max_upload_bytes)} ` +
      `(${S.config.upload_extensions.join(" ")})`;
    for (const c of S.config.cameras || []) {
      const o = document.createElement("option");
      o.value = c.id;
      o.textContent = `${c.label} (${c.line_delay_us.toPrecision(4)} µs)`;
      $("camera").append(o);
    }
    $("map-option").hidden = !S.config.optional.map;
    $("report-option").hidden = !S.config.optional.report;
  } catch (err) {
    showMessage(err.message);
  }
  await loadVideos();
  await loadJobs();
}

document.addEventListener("DOMContentLoaded", init);
