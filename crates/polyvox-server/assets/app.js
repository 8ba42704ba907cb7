// Polyvox web page. Plays MP3 while it streams (MediaSource); other formats play once complete.
// Browser tests rely on the element ids and on #audio's data-duration, set when metadata loads.
'use strict';

const $ = (id) => document.getElementById(id);
const els = {
  apikey: $('apikey'),
  form: $('form'), text: $('text'), lang: $('lang'), voice: $('voice'), speed: $('speed'),
  format: $('format'), speak: $('speak'), status: $('status'), error: $('error'),
  audio: $('audio'), download: $('download'),
};
let voices = [];
let languages = [];
let urls = [];

function showError(message) {
  els.error.textContent = message || '';
  els.error.hidden = !message;
}

function setStatus(message) {
  els.status.textContent = message;
}

// Turns an API error body into a readable Error (message, code and request id).
async function apiError(res) {
  try {
    const e = (await res.json()).error || {};
    const id = e.request_id ? `, request ${e.request_id}` : '';
    return new Error(`${e.message || res.statusText} (${e.code || res.status}${id})`);
  } catch (_) {
    return new Error(`HTTP ${res.status} ${res.statusText}`);
  }
}

async function getJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw await apiError(res);
  return res.json();
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function fillVoices() {
  const code = els.lang.value;
  const lang = languages.find((l) => l.code === code);
  let list = voices.filter((v) => v.language === code);
  // A language without voices of its own (Korean) speaks through its default voice.
  if (!list.length && lang) list = voices.filter((v) => v.id === lang.default_voice);
  els.voice.replaceChildren(...list.map((v) => option(v.id, `${v.name} (${v.gender}, ${v.id})`)));
  if (lang && list.some((v) => v.id === lang.default_voice)) els.voice.value = lang.default_voice;
}

async function init() {
  els.apikey.value = sessionStorage.getItem('polyvox-key') || '';
  try {
    const [langs, vs] = await Promise.all([getJson('/v1/languages'), getJson('/v1/voices')]);
    languages = langs.data.filter((l) => l.supported);
    voices = vs.data;
    if (!languages.length) throw new Error('this server has no language loaded');
    els.lang.replaceChildren(...languages.map((l) => option(l.code, l.name)));
    if (languages.some((l) => l.code === 'en-us')) els.lang.value = 'en-us';
    fillVoices();
  } catch (e) {
    showError(`Could not load languages and voices: ${e.message}`);
  }
}

function freeUrls() {
  urls.forEach((u) => URL.revokeObjectURL(u));
  urls = [];
}

function objectUrl(obj) {
  const u = URL.createObjectURL(obj);
  urls.push(u);
  return u;
}

function appendBuffer(sb, data) {
  return new Promise((resolve, reject) => {
    const done = () => { sb.removeEventListener('error', fail); resolve(); };
    const fail = () => { sb.removeEventListener('updateend', done); reject(new Error('the browser could not decode the audio')); };
    sb.addEventListener('updateend', done, { once: true });
    sb.addEventListener('error', fail, { once: true });
    sb.appendBuffer(data);
  });
}

// Feeds the response into a MediaSource as it arrives, so playback starts with the first chunk.
async function playStreaming(res, chunks) {
  const ms = new MediaSource();
  els.audio.src = objectUrl(ms);
  await new Promise((resolve) => ms.addEventListener('sourceopen', resolve, { once: true }));
  const sb = ms.addSourceBuffer('audio/mpeg');
  const reader = res.body.getReader();
  let started = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    await appendBuffer(sb, value);
    if (!started) {
      started = true;
      setStatus('Playing while synthesizing…');
      els.audio.play().catch(() => {});
    }
  }
  if (ms.readyState === 'open') ms.endOfStream();
}

async function readAll(res, chunks) {
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    chunks.push(value);
  }
}

async function speak(event) {
  event.preventDefault();
  showError('');
  freeUrls();
  els.audio.removeAttribute('data-duration');
  els.download.hidden = true;
  els.speak.disabled = true;
  setStatus('Synthesizing…');
  const format = els.format.value;
  const body = {
    model: 'kokoro',
    input: els.text.value,
    voice: els.voice.value || undefined,
    lang: els.lang.value || undefined,
    speed: Number(els.speed.value) || 1,
    response_format: format,
  };
  try {
    const headers = { 'Content-Type': 'application/json' };
    const key = els.apikey.value.trim();
    // Kept for this tab only: a key in localStorage would outlive the session on shared machines.
    if (key) {
      headers.Authorization = `Bearer ${key}`;
      sessionStorage.setItem('polyvox-key', key);
    }
    const res = await fetch('/v1/audio/speech', {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await apiError(res);
    const type = (res.headers.get('Content-Type') || 'application/octet-stream').split(';')[0];
    const chunks = [];
    const streamable = format === 'mp3' && window.MediaSource && MediaSource.isTypeSupported('audio/mpeg');
    try {
      if (streamable) await playStreaming(res, chunks);
      else await readAll(res, chunks);
    } catch (e) {
      throw new Error(`the audio stream broke off: ${e.message}`);
    }
    const blob = new Blob(chunks, { type });
    if (!streamable) {
      els.audio.src = objectUrl(blob);
      els.audio.play().catch(() => {});
    }
    els.download.href = objectUrl(blob);
    els.download.download = `speech.${format}`;
    els.download.hidden = false;
    setStatus(`Done: ${(blob.size / 1024).toFixed(1)} KiB of ${format}.`);
  } catch (e) {
    showError(e.message);
    setStatus('');
  } finally {
    els.speak.disabled = false;
  }
}

function noteDuration() {
  const d = els.audio.duration;
  if (Number.isFinite(d) && d > 0) {
    els.audio.dataset.duration = d.toFixed(3);
  }
}

els.lang.addEventListener('change', fillVoices);
els.form.addEventListener('submit', speak);
els.audio.addEventListener('loadedmetadata', noteDuration);
els.audio.addEventListener('durationchange', noteDuration);
els.audio.addEventListener('error', () => {
  if (els.audio.getAttribute('src')) showError('The browser could not play this audio format.');
});
init();
