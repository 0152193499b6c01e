// torchddsp's web page: two tabs (timbre transfer, synthesizer) over the JSON routes of
// torchddsp/app/server.py. Plain JavaScript, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let recorded = null; // a WAV Blob made from the microphone, used when no file is chosen

// ---- Tabs -----------------------------------------------------------------------------------
function showTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    $(other.dataset.panel).hidden = !selected;
  }
}

// ---- Requests -------------------------------------------------------------------------------
// POST to `route` with `params` in the query and `body` (or none); resolves to the JSON answer,
// rejects with the server's message for a refused request.
async function post(route, params, body) {
  const response = await fetch(`${route}?${new URLSearchParams(params)}`, { method: "POST", body });
  let answer = null;
  try { answer = await response.json(); } catch (_) { /* not JSON: said below */ }
  if (!response.ok) {
    throw new Error((answer && (answer.error || answer.detail)) || `the server answered ${response.status}`);
  }
  return answer;
}

// Run `work` with its button disabled and its status and error shown in the tab `prefix`.
async function withStatus(prefix, work) {
  const button = $(`run-${prefix}`), status = $(`${prefix}-status`), error = $(`${prefix}-error`);
  button.disabled = true;
  error.hidden = true;
  status.textContent = "working…";
  try {
    await work();
    status.textContent = "done";
  } catch (failure) {
    status.textContent = "";
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// Show a result ({audio_url, figure_url, summary}) in the tab `prefix`.
function showResult(prefix, answer) {
  const audio = $(`${prefix}-audio`);
  audio.dataset.sampleRate = answer.summary.sample_rate;
  audio.dataset.nSamples = answer.summary.n_samples;
  audio.src = answer.audio_url;
  $(`${prefix}-download`).href = answer.audio_url;
  const figure = $(`${prefix}-figure`);
  figure.hidden = !answer.figure_url;
  if (answer.figure_url) figure.src = answer.figure_url;
  const summary = $(`${prefix}-summary`);
  if (summary) summary.textContent = JSON.stringify(answer.summary, null, 1);
  $(`${prefix}-result`).hidden = false;
}

// ---- Timbre transfer --------------------------------------------------------------------------
async function runTransfer() {
  const file = $("audio-file").files[0] || recorded;
  if (!file) throw new Error("choose an audio file or record one first");
  const params = { model: $("model").value, f0_method: $("f0_method").value };
  for (const name of ["pitch_shift", "loudness_shift", "quiet_db"]) params[name] = $(name).value;
  for (const name of ["auto_adjust", "reverb"]) params[name] = String($(name).checked);
  showResult("transfer", await post("/api/transfer", params, file));
}

// ---- Recording: MediaRecorder's compressed audio, decoded by the browser, sent as a WAV -------
function encodeWav(samples, sampleRate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, value) => { for (let i = 0; i < value.length; i++) view.setUint8(offset + i, value.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, Math.round(x * 32767), true);
  }
  return new Blob([view], { type: "audio/wav" });
}

let recorder = null;
async function toggleRecording() {
  const button = $("record"), status = $("record-status");
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((track) => track.stop());
      recorder = null;
      button.textContent = "Record";
      const context = new AudioContext();
      const decoded = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
      recorded = encodeWav(decoded.getChannelData(0), decoded.sampleRate);
      $("audio-file").value = "";
      $("input-audio").src = URL.createObjectURL(recorded);
      $("input-audio").hidden = false;
      status.textContent = `recorded ${decoded.duration.toFixed(1)} s`;
    };
    recorder.start();
    button.textContent = "Stop";
    status.textContent = "recording…";
  } catch (failure) {
    status.textContent = `cannot record: ${failure.message}`;
  }
}

// ---- Synthesizer ------------------------------------------------------------------------------
let synthInfo = null;
function buildSliders() {
  const box = $("synth-sliders");
  box.replaceChildren();
  for (const slider of synthInfo.voices[$("voice").value]) {
    const row = document.createElement("label");
    row.className = "slider";
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: `slider-${slider.key}`, min: slider.low, max: slider.high, step: slider.step, value: slider.default });
    input.dataset.key = slider.key;
    const shown = document.createElement("output");
    const update = () => { shown.textContent = `${input.value} ${slider.unit}`; };
    input.addEventListener("input", update);
    update();
    row.append(slider.label, input, shown);
    box.append(row);
  }
}

async function runSynth() {
  const params = { voice: $("voice").value, length_s: $("length_s").value };
  for (const input of $("synth-sliders").querySelectorAll("input")) params[input.dataset.key] = input.value;
  showResult("synth", await post("/api/synth", params));
}

// ---- Start ------------------------------------------------------------------------------------
function fill(select, values) {
  select.replaceChildren(...values.map((value) => new Option(value, value)));
}

async function start() {
  for (const tab of document.querySelectorAll('[role="tab"]')) tab.addEventListener("click", () => showTab(tab));
  $("audio-file").addEventListener("change", () => { recorded = null; $("input-audio").hidden = true; });
  $("record").addEventListener("click", toggleRecording);
  $("run-transfer").addEventListener("click", () => withStatus("transfer", runTransfer));
  $("run-synth").addEventListener("click", () => withStatus("synth", runSynth));
  const info = await (await fetch("/api/info")).json();
  fill($("model"), info.models);
  for (const [name, [, low, high]] of Object.entries(info.transfer_fields)) Object.assign($(name), { min: low, max: high });
  synthInfo = info.synth;
  fill($("voice"), Object.keys(synthInfo.voices));
  const [length, shortest, longest] = synthInfo.length_s;
  const lengths = [];
  for (let s = shortest; s <= longest; s += 0.5) lengths.push(String(s));
  fill($("length_s"), lengths);
  $("length_s").value = String(length);
  $("voice").addEventListener("change", buildSliders);
  buildSliders();
  document.body.dataset.ready = "true"; // the page is usable (the browser test waits for this)
}

start();
