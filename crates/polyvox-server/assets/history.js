// What this tab made: text excerpt, voice, duration, format, and the audio to play again or
// download. Kept in memory (the audio are blob: URLs, which die with the page), newest first.
'use strict';

const $ = (id) => document.getElementById(id);
const EXCERPT = 80;

function excerpt(text) {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > EXCERPT ? `${t.slice(0, EXCERPT - 1)}…` : t;
}

export function formatSeconds(s) {
  if (!Number.isFinite(s)) return 'length unknown';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/**
 * `onPlay(entry)` plays an entry again. Returns `add(entry)`, where entry is
 * `{ text, voice, format, seconds, url, filename, bytes, kind }` (`url` a blob: or same-origin URL).
 */
export function initHistory({ onPlay }) {
  const list = $('history-list');
  const empty = $('history-empty');
  let n = 0;

  return function add(entry) {
    n += 1;
    const li = document.createElement('li');
    li.className = 'history-item';
    const quote = document.createElement('q');
    quote.textContent = excerpt(entry.text);
    const meta = document.createElement('p');
    meta.className = 'meta';
    const kb = entry.bytes ? ` · ${(entry.bytes / 1024).toFixed(0)} KiB` : '';
    meta.textContent = `${entry.voice} · ${formatSeconds(entry.seconds)} · ${entry.format.toUpperCase()}`
      + `${kb} · ${entry.kind}`;
    const actions = document.createElement('div');
    actions.className = 'actions';
    const play = document.createElement('button');
    Object.assign(play, { type: 'button', className: 'secondary', textContent: 'Play' });
    play.setAttribute('aria-label', `Play item ${n} again`);
    play.addEventListener('click', () => onPlay(entry));
    const link = document.createElement('a');
    Object.assign(link, { href: entry.url, download: entry.filename, textContent: 'Download' });
    link.setAttribute('aria-label', `Download item ${n} (${entry.filename})`);
    actions.append(play, link);
    li.append(quote, meta, actions);
    list.prepend(li);
    empty.hidden = true;
  };
}
