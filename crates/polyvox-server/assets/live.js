// Live mode: what the user types is spoken as it is typed, through the WebSocket
// GET /v1/audio/speech/stream (docs/live.md). The server cuts the text at clause and sentence
// ends and sends one continuous PCM stream (24 kHz, mono, s16le), played here through the Web
// Audio API: each frame becomes a buffer scheduled right after the previous one, so chunks join
// without gaps of our making.
//
// Typing appends: what has been sent cannot be taken back, so only text added at the end is
// sent (editing or deleting earlier text changes nothing already spoken; the hint says so). Enter or a pause
// speaks what is buffered (the server's idle gap); Stop speaks the rest and ends the session.
// A browser cannot set headers on a WebSocket, so the key goes in the first message.
//
// Browser tests rely on #live-text, #live-start, #live-stop and #live's data-state
// (idle | connecting | open | done | error), data-bytes (audio received) and data-characters
// (billed, from the server's done message).
'use strict';

import { getKey } from './api.js';

const $ = (id) => document.getElementById(id);
const RATE = 24000;

export function initLive({ announce, showError, settings }) {
  const els = {
    box: $('live'), text: $('live-text'), start: $('live-start'), stop: $('live-stop'), state: $('live-state'),
  };
  let ws = null;
  let sent = 0; // characters of the box already sent
  let ctx = null;
  let next = 0; // when the next buffer starts, on the AudioContext clock
  let odd = null; // a frame may end in the middle of a sample
  let bytes = 0;

  function setState(state, message) {
    els.box.dataset.state = state;
    els.state.textContent = message;
    els.start.disabled = state === 'connecting' || state === 'open';
    els.stop.disabled = state !== 'open';
    els.text.readOnly = state !== 'open';
  }

  function play(data) {
    let buf = new Uint8Array(data);
    bytes += buf.length;
    els.box.dataset.bytes = String(bytes);
    if (odd !== null) {
      const joined = new Uint8Array(buf.length + 1);
      joined[0] = odd;
      joined.set(buf, 1);
      buf = joined;
      odd = null;
    }
    if (buf.length % 2) {
      odd = buf[buf.length - 1];
      buf = buf.subarray(0, buf.length - 1);
    }
    if (!buf.length) return;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    const samples = new Float32Array(buf.length / 2);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
    const audio = ctx.createBuffer(1, samples.length, RATE);
    audio.copyToChannel(samples, 0);
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    next = Math.max(next, ctx.currentTime + 0.05);
    src.start(next);
    next += audio.duration;
  }

  function onMessage(event) {
    if (typeof event.data !== 'string') {
      play(event.data);
      return;
    }
    const msg = JSON.parse(event.data);
    if (msg.type === 'ready') {
      setState('open', 'Live: type, and it is spoken as you go.');
      announce('Live mode on: type, and it is spoken as you go.');
      els.text.focus();
      send();
    } else if (msg.type === 'done') {
      els.box.dataset.characters = String(msg.characters);
      setState('done', `Spoken: ${msg.characters} characters, ${msg.audio_seconds.toFixed(1)} s of audio.`);
      announce('Live mode ended.');
    } else if (msg.type === 'error') {
      setState('error', '');
      showError(`Live mode: ${msg.message} (${msg.code})`);
    }
  }

  /** Sends what was typed at the end since the last send. */
  function send() {
    if (!ws || ws.readyState !== WebSocket.OPEN || els.box.dataset.state !== 'open') return;
    const now = els.text.value;
    if (now.length > sent) ws.send(JSON.stringify({ type: 'text', text: now.slice(sent) }));
    // Deleting text that was sent takes nothing back; later typing is sent from the new end.
    sent = now.length;
  }

  async function start() {
    showError('');
    ctx = ctx || new AudioContext({ sampleRate: RATE });
    await ctx.resume().catch(() => {});
    next = 0;
    odd = null;
    bytes = 0;
    sent = 0;
    els.box.dataset.bytes = '0';
    delete els.box.dataset.characters;
    setState('connecting', 'Connecting…');
    const url = new URL('/v1/audio/speech/stream', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => {
      const key = getKey();
      if (key) ws.send(JSON.stringify({ type: 'auth', token: key }));
      const s = settings();
      ws.send(JSON.stringify({
        type: 'session', voice: s.voice, lang: s.lang || 'auto', speed: s.speed, format: 'pcm', audio: 'binary',
      }));
    });
    ws.addEventListener('message', onMessage);
    ws.addEventListener('close', (e) => {
      const state = els.box.dataset.state;
      if (state === 'open' || state === 'connecting') {
        setState('error', '');
        showError(`Live mode: the connection closed (${e.code}${e.reason ? `: ${e.reason}` : ''}).`);
      }
      ws = null;
    });
  }

  function stop() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    send();
    ws.send(JSON.stringify({ type: 'close' }));
    els.stop.disabled = true;
    els.state.textContent = 'Speaking the rest…';
  }

  els.text.addEventListener('input', send);
  els.text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && ws && els.box.dataset.state === 'open') {
      send();
      ws.send(JSON.stringify({ type: 'flush' }));
    }
  });
  els.start.addEventListener('click', start);
  els.stop.addEventListener('click', stop);
  setState('idle', 'Live mode is off.');
}
