// The spoken text under the player, each word lit while it is heard.
//
// Words come from the API's word timestamps: `{ text, char_start, char_end, start, end }`, offsets
// in Unicode scalar values of the text as sent (so `Array.from`, not string indices, which count
// UTF-16 units), times in seconds of the audio. They may arrive in batches while the audio
// streams (`append`), or all at once for a job or a JSON answer (`show`). The text between words
// (spaces, punctuation, markup the API does not time) is shown as it was written.
//
// The current word follows the player's clock on every animation frame while it plays (a
// `timeupdate` alone comes ~4 times a second, too coarse for short words). Clicking a word seeks
// to it. The highlight is visual only: a screen reader already hears the audio, and announcing
// every word would drown the status region.
//
// Browser tests rely on #words, its data-count, and .word.current's data-index.
'use strict';

export function initWords({ audio, container }) {
  let chars = [];
  let spans = [];
  let starts = [];
  let timed = [];
  let shownTo = 0; // chars of the text already placed in the container
  let current = -1;
  let frame = 0;

  function clear() {
    container.replaceChildren();
    container.hidden = true;
    container.dataset.count = '0';
    chars = [];
    spans = [];
    starts = [];
    timed = [];
    shownTo = 0;
    setCurrent(-1);
  }

  /** Starts a new text; its words follow with `append`. */
  function begin(text) {
    clear();
    chars = Array.from(text);
  }

  /** Adds words (in order, after those already shown) to the text begun last. */
  function append(words) {
    for (const w of words) {
      if (w.char_start < shownTo || w.char_end > chars.length || w.char_end <= w.char_start) continue;
      if (w.char_start > shownTo) container.append(chars.slice(shownTo, w.char_start).join(''));
      const span = document.createElement('span');
      span.className = 'word';
      span.textContent = chars.slice(w.char_start, w.char_end).join('');
      span.dataset.index = String(spans.length);
      span.dataset.start = String(w.start);
      span.addEventListener('click', () => {
        audio.currentTime = w.start;
        audio.play().catch(() => {});
      });
      container.append(span);
      spans.push(span);
      starts.push(w.start);
      timed.push(w);
      shownTo = w.char_end;
    }
    container.dataset.count = String(spans.length);
    container.hidden = spans.length === 0;
  }

  /** Places the text after the last word (its final punctuation). */
  function finish() {
    if (shownTo < chars.length && spans.length) container.append(chars.slice(shownTo).join(''));
    shownTo = chars.length;
  }

  /** A whole text and all its words (a job, a JSON answer, an item of the history). */
  function show(text, words) {
    begin(text);
    append(words || []);
    finish();
  }

  function setCurrent(i) {
    if (i === current) return;
    if (current >= 0 && spans[current]) spans[current].classList.remove('current');
    current = i;
    container.dataset.current = String(i);
    if (i >= 0 && spans[i]) spans[i].classList.add('current');
  }

  /** The last word that has started by time `t`. */
  function wordAt(t) {
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= t) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  function tick() {
    setCurrent(wordAt(audio.currentTime));
    frame = audio.paused ? 0 : requestAnimationFrame(tick);
  }

  audio.addEventListener('play', () => {
    if (!frame) frame = requestAnimationFrame(tick);
  });
  audio.addEventListener('seeked', tick);
  audio.addEventListener('ended', () => setCurrent(-1));

  clear();
  return { begin, append, finish, show, clear, shown: () => timed.slice() };
}
