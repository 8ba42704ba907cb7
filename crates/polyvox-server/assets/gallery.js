// The voice gallery: filter by text, language and gender; preview a voice; use it, or add it to
// the blend. Previews come from GET /v1/voices/{id}/preview (public, made once per server and
// cached by the browser for a day), played in #preview-audio. Browser tests read that element's
// data-voice and data-duration.
'use strict';

import { errorOf } from './api.js';

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) if (c != null) e.append(c);
  return e;
}

/** Lower-cased text a search matches: name, id, aliases, language, legacy voice_id (gender has its own filter: "male" is in "female"). */
function haystack(v, langName) {
  const legacy = v.legacy_voice_id ? `voice_id ${v.legacy_voice_id}` : '';
  return [v.name, v.id, ...(v.aliases || []), langName, legacy].join(' ').toLowerCase();
}

/**
 * Renders the gallery. `voices` and `languages` are /v1/voices and /v1/languages; `onUse(voice)`
 * makes a voice the composer's, `onAddToBlend(voice)` adds it to the blend, `announce(msg)` speaks
 * through the page's status region.
 */
export function initGallery({ voices, languages, onUse, onAddToBlend, announce, showError }) {
  const search = $('voice-search');
  const lang = $('filter-lang');
  const gender = $('filter-gender');
  const list = $('gallery');
  const count = $('gallery-count');
  const player = $('preview-audio');
  const label = $('preview-label');
  const langName = new Map(languages.map((l) => [l.code, l.name]));

  const withVoices = languages.filter((l) => voices.some((v) => v.language === l.code));
  lang.append(...withVoices.map((l) => el('option', { value: l.code, textContent: l.name })));

  const cards = voices.map((v) => {
    const name = langName.get(v.language) || v.language;
    const actions = el('div', { className: 'actions' });
    const preview = el('button', { type: 'button', textContent: 'Preview', className: 'secondary' });
    preview.setAttribute('aria-label', `Preview ${v.name} (${v.id})`);
    const use = el('button', { type: 'button', textContent: 'Use' });
    use.setAttribute('aria-label', `Use ${v.name} (${v.id})`);
    const add = el('button', { type: 'button', textContent: 'Add to blend', className: 'secondary' });
    add.setAttribute('aria-label', `Add ${v.name} (${v.id}) to the blend`);
    if (!v.supported) {
      for (const b of [preview, use, add]) b.disabled = true;
    }
    preview.addEventListener('click', () => playPreview(v));
    use.addEventListener('click', () => onUse(v));
    add.addEventListener('click', () => onAddToBlend(v));
    actions.append(preview, use, add);
    const aliases = (v.aliases || []).length ? `also “${v.aliases.join('”, “')}”` : null;
    const legacy = v.legacy_voice_id ? `voice_id ${v.legacy_voice_id} of the original service (/tts/generate)` : null;
    const card = el('li', { className: 'voice-card' },
      el('h3', { textContent: v.name }),
      el('p', { className: 'meta' }, el('code', { textContent: v.id }), ` · ${name} · ${v.gender}`),
      aliases && el('p', { className: 'meta', textContent: aliases }),
      legacy && el('p', { className: 'meta', textContent: legacy }),
      v.supported ? null : el('p', { className: 'note', textContent: 'Not spoken by this server.' }),
      actions);
    card.dataset.voice = v.id;
    return { v, card, text: haystack(v, name) };
  });

  function apply() {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const c of cards) {
      const ok = (!q || c.text.includes(q)) && (!lang.value || c.v.language === lang.value)
        && (!gender.value || c.v.gender === gender.value);
      c.card.hidden = !ok;
      if (ok) shown += 1;
    }
    count.textContent = shown === 1 ? '1 voice' : `${shown} voices`;
  }

  async function playPreview(v) {
    const url = `/v1/voices/${encodeURIComponent(v.id)}/preview`;
    showError('');
    player.removeAttribute('data-duration');
    player.dataset.voice = v.id;
    label.textContent = `Preview: ${v.name} (${v.id})`;
    announce(`Loading the preview of ${v.name}…`);
    player.src = url;
    try {
      await player.play();
      announce(`Playing the preview of ${v.name}.`);
    } catch (_) {
      // The element does not say why; ask the server for its error body.
      const e = await errorOf(url);
      showError(`Could not play the preview of ${v.name}: ${e ? e.message : 'the browser refused the audio'}`);
      announce('');
    }
  }

  player.addEventListener('loadedmetadata', () => {
    if (Number.isFinite(player.duration)) player.dataset.duration = player.duration.toFixed(3);
  });
  for (const input of [search, lang, gender]) input.addEventListener('input', apply);
  list.replaceChildren(...cards.map((c) => c.card));
  apply();
}
