// The composer: text (typed or from a .txt file), voice, language, speed, format → audio.
//
// Two paths, chosen by length: a short text goes to POST /v1/audio/speech and MP3 plays while it
// streams (MediaSource); a long text or an uploaded file becomes a job (POST /v1/jobs), whose
// chunk counts drive the progress bar, which can be cancelled (DELETE /v1/jobs/{id}), and whose
// audio is fetched once it succeeded. Both end in the player and the tab's history.
//
// Every path asks for word timestamps, and the text is shown under the player with the word being
// heard lit (words.js): a streamed MP3 comes as server-sent events, audio deltas and the words
// they speak, each word before its audio, so highlighting starts with the first chunk; other
// formats come as one JSON answer (audio in base64 and the words); a job's words are fetched from
// GET /v1/jobs/{id}/timestamps once it succeeded. The player takes a result
// `{ url, text, voice, format, seconds, words }`.
//
// Browser tests rely on the element ids, #audio's data-duration, #progress's data-percent,
// #job's data-job-id and #words (words.js).
'use strict';

import { api, getJson, sleep } from './api.js';
import { formatSeconds } from './history.js';
import { initWords } from './words.js';

const $ = (id) => document.getElementById(id);
/** Longer texts become jobs: a progress bar and a cancel button beat a long silent stream. */
export const LONG_TEXT = 2000;
/** A .txt above this is refused before reading (the job limit is 100,000 characters by default). */
const MAX_FILE_BYTES = 1024 * 1024;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function initCompose({ announce, showError, onResult }) {
  const els = {
    form: $('form'), text: $('text'), hint: $('mode-hint'), file: $('file'), voice: $('voice'),
    lang: $('lang'), speed: $('speed'), format: $('format'), speak: $('speak'), cancel: $('cancel'),
    job: $('job'), progress: $('progress'), progressText: $('progress-text'), audio: $('audio'),
    download: $('download'), nowPlaying: $('now-playing'),
  };
  const words = initWords({ audio: els.audio, container: $('words') });
  let fromFile = null;
  let running = null;

  const asJob = () => fromFile !== null || els.text.value.length > LONG_TEXT;

  function hint() {
    const n = els.text.value.length;
    const how = asJob()
      ? 'rendered as a job: progress, cancel, then play and download'
      : 'plays while it is being synthesized';
    const from = fromFile ? ` from ${fromFile}` : '';
    els.hint.textContent = `${n.toLocaleString('en')} characters${from}: ${how}.`;
  }

  /** Shows a result in the player. */
  function show(result) {
    els.audio.removeAttribute('data-duration');
    els.audio.src = result.url;
    els.download.href = result.url;
    els.download.download = result.filename;
    els.download.textContent = `Download ${result.filename}`;
    els.download.hidden = false;
    els.nowPlaying.textContent = `${result.voice} · ${formatSeconds(result.seconds)} · ${result.format.toUpperCase()}`;
    if (result.words) words.show(result.text, result.words);
    else words.clear();
  }

  function setProgress(done, total) {
    const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
    if (total) {
      els.progress.value = pct;
    } else {
      els.progress.removeAttribute('value'); // indeterminate until the worker has chunked the text
    }
    els.progress.dataset.percent = String(pct);
    els.progressText.textContent = total ? `chunk ${done} of ${total} · ${pct} %` : 'waiting for a worker';
    return pct;
  }

  function showJob(view) {
    const pct = setProgress(view.chunks_done, view.chunks_total);
    // A failed attempt starts over (the server retries it): say so rather than move back silently.
    if (view.attempts > 1 && !TERMINAL.has(view.status)) els.progressText.textContent += ` · attempt ${view.attempts}`;
    return pct;
  }

  function request() {
    return {
      model: 'kokoro',
      input: els.text.value,
      voice: els.voice.value.trim() || undefined,
      lang: els.lang.value || undefined,
      speed: Number(els.speed.value) || 1,
      response_format: els.format.value,
      timestamps: 'word',
    };
  }

  /** Audio length of a blob, from its metadata (null when the browser cannot tell). */
  function probeSeconds(url) {
    return new Promise((resolve) => {
      const a = new Audio();
      const done = (v) => { a.removeAttribute('src'); resolve(v); };
      a.addEventListener('loadedmetadata', () => done(Number.isFinite(a.duration) ? a.duration : null), { once: true });
      a.addEventListener('error', () => done(null), { once: true });
      setTimeout(() => done(null), 5000);
      a.preload = 'metadata';
      a.src = url;
    });
  }

  function appendBuffer(sb, data) {
    return new Promise((resolve, reject) => {
      const ok = () => { sb.removeEventListener('error', fail); resolve(); };
      const fail = () => { sb.removeEventListener('updateend', ok); reject(new Error('the browser could not decode the audio')); };
      sb.addEventListener('updateend', ok, { once: true });
      sb.addEventListener('error', fail, { once: true });
      sb.appendBuffer(data);
    });
  }

  /** The server-sent events of a response, one parsed `data:` object at a time. */
  async function* events(res) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (data) yield JSON.parse(data);
      }
    }
  }

  const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

  // Feeds the events' audio into a MediaSource as it arrives, so playback (and the highlighting)
  // starts with the first chunk.
  async function playStreaming(res, chunks) {
    const ms = new MediaSource();
    els.audio.src = URL.createObjectURL(ms);
    await new Promise((resolve) => ms.addEventListener('sourceopen', resolve, { once: true }));
    const sb = ms.addSourceBuffer('audio/mpeg');
    let started = false;
    for await (const ev of events(res)) {
      if (ev.type === 'speech.words') {
        words.append(ev.words);
      } else if (ev.type === 'speech.audio.delta') {
        const data = fromBase64(ev.audio);
        chunks.push(data);
        await appendBuffer(sb, data);
        if (!started) {
          started = true;
          announce('Playing while synthesizing…');
          els.audio.play().catch(() => {});
        }
      } else if (ev.type === 'error') {
        throw new Error(`${ev.error.message} (${ev.error.code})`);
      }
    }
    if (ms.readyState === 'open') ms.endOfStream();
  }

  async function stream(req) {
    announce('Synthesizing…');
    const streamable = req.response_format === 'mp3' && window.MediaSource && MediaSource.isTypeSupported('audio/mpeg');
    const type = `audio/${{ mp3: 'mpeg', opus: 'ogg', flac: 'flac', wav: 'wav' }[req.response_format] || 'mpeg'}`;
    let blob;
    let timed = null;
    words.begin(req.input);
    if (streamable) {
      const res = await api('/v1/audio/speech', { method: 'POST', body: { ...req, stream_format: 'sse' } });
      const chunks = [];
      try {
        await playStreaming(res, chunks);
      } catch (e) {
        throw new Error(`the audio stream broke off: ${e.message}`);
      }
      words.finish();
      blob = new Blob(chunks, { type });
    } else {
      // One JSON answer: the audio in base64 and every word.
      const body = await (await api('/v1/audio/speech', { method: 'POST', body: req })).json();
      blob = new Blob([fromBase64(body.audio_base64)], { type: body.content_type || type });
      timed = body.words;
    }
    const url = URL.createObjectURL(blob);
    const result = {
      url, text: req.input, voice: req.voice || 'default voice', format: req.response_format,
      seconds: await probeSeconds(url), filename: `speech.${req.response_format}`, bytes: blob.size,
      kind: 'streamed', words: timed || words.shown(),
    };
    if (!streamable) {
      show(result);
      els.audio.play().catch(() => {});
    } else {
      // Keep the streamed element playing; only the download and caption change.
      els.download.href = url;
      els.download.download = result.filename;
      els.download.textContent = `Download ${result.filename}`;
      els.download.hidden = false;
      els.nowPlaying.textContent = `${result.voice} · ${formatSeconds(result.seconds)} · ${result.format.toUpperCase()}`;
    }
    announce(`Done: ${formatSeconds(result.seconds)} of ${req.response_format.toUpperCase()}.`);
    onResult(result);
  }

  async function runJob(req) {
    announce('Submitting the job…');
    els.job.hidden = false;
    setProgress(0, null);
    const accepted = await (await api('/v1/jobs', { method: 'POST', body: req })).json();
    running = { id: accepted.id };
    els.job.dataset.jobId = accepted.id;
    els.cancel.hidden = false;
    els.cancel.disabled = false;
    announce(`Job ${accepted.id} queued.`);
    let view;
    let said = -1;
    for (;;) {
      view = await getJson(`/v1/jobs/${accepted.id}`);
      const pct = showJob(view);
      // A screen reader hears every quarter, not every poll.
      const quarter = Math.floor(pct / 25);
      if (view.status === 'running' && view.chunks_total && quarter !== said) {
        said = quarter;
        announce(quarter === 0 ? `Rendering ${view.chunks_total} chunks…` : `Rendering: ${quarter * 25} % done…`);
      }
      if (TERMINAL.has(view.status)) break;
      await sleep(view.status === 'queued' ? 1000 : 500);
    }
    running = null;
    els.cancel.hidden = true;
    if (view.status === 'cancelled') {
      announce('The job was cancelled.');
      return;
    }
    if (view.status === 'failed') {
      const e = view.error || {};
      throw new Error(`the job failed: ${e.message || 'no detail'} (${e.code || 'failed'})`);
    }
    // A job answered from the cache has no chunk counts of its own.
    setProgress(view.chunks_total || 1, view.chunks_total || 1);
    const name = `polyvox-${accepted.id.slice(0, 8)}.${req.response_format}`;
    let url = view.audio_url;
    let bytes = view.audio_bytes;
    if (url && url.startsWith('/')) {
      announce('Done; fetching the audio…');
      const blob = await (await api(url)).blob();
      url = URL.createObjectURL(blob);
      bytes = blob.size;
    }
    const timed = await getJson(`/v1/jobs/${accepted.id}/timestamps`);
    const result = {
      url, text: req.input, voice: req.voice || 'default voice', format: req.response_format,
      seconds: view.audio_seconds, filename: name, bytes, kind: `job ${accepted.id.slice(0, 8)}`, words: timed.words,
    };
    show(result);
    announce(`Done: ${formatSeconds(result.seconds)} of ${req.response_format.toUpperCase()}; ready to play and download.`);
    onResult(result);
  }

  async function speak(event) {
    event.preventDefault();
    showError('');
    if (!els.text.value.trim()) {
      showError('Type some text or load a .txt file first.');
      els.text.focus();
      return;
    }
    const req = request();
    els.speak.disabled = true;
    try {
      if (asJob()) await runJob(req);
      else await stream(req);
    } catch (e) {
      showError(e.message);
      announce('');
    } finally {
      els.speak.disabled = false;
      els.cancel.hidden = true;
      running = null;
    }
  }

  async function cancel() {
    if (!running) return;
    els.cancel.disabled = true;
    announce('Cancelling…');
    try {
      await api(`/v1/jobs/${running.id}`, { method: 'DELETE' });
    } catch (e) {
      showError(`Could not cancel: ${e.message}`);
      els.cancel.disabled = false;
    }
  }

  async function loadFile() {
    const f = els.file.files && els.file.files[0];
    if (!f) return;
    showError('');
    if (f.size > MAX_FILE_BYTES) {
      showError(`${f.name} is ${(f.size / 1048576).toFixed(1)} MB; a text file may be at most 1 MB.`);
      els.file.value = '';
      return;
    }
    const text = (await f.text()).replace(/^\uFEFF/, '');
    els.text.value = text;
    fromFile = f.name;
    hint();
    announce(`Loaded ${f.name}: ${text.length.toLocaleString('en')} characters. Speak renders it as a job.`);
  }

  els.text.addEventListener('input', () => {
    fromFile = null;
    hint();
  });
  els.file.addEventListener('change', loadFile);
  els.form.addEventListener('submit', speak);
  els.cancel.addEventListener('click', cancel);
  const noteDuration = () => {
    const d = els.audio.duration;
    if (Number.isFinite(d) && d > 0) els.audio.dataset.duration = d.toFixed(3);
  };
  els.audio.addEventListener('loadedmetadata', noteDuration);
  els.audio.addEventListener('durationchange', noteDuration);
  els.audio.addEventListener('error', () => {
    if (els.audio.getAttribute('src')) showError('The browser could not play this audio format.');
  });
  hint();

  return {
    /** Sets the voice (an id or a blend string) and says so. */
    setVoice(spec, label) {
      els.voice.value = spec;
      announce(`Voice set to ${label || spec}.`);
    },
    /** Plays an earlier result again. */
    show(result) {
      show(result);
      els.audio.play().catch(() => {});
    },
    fillLanguages(languages) {
      for (const l of languages) {
        const o = document.createElement('option');
        o.value = l.code;
        o.textContent = l.name;
        els.lang.append(o);
      }
    },
  };
}
