// Polyvox Studio: loads the catalogue and wires the parts — the API key panel (api.js), the
// composer (compose.js), live mode (live.js), the voice gallery (gallery.js), the blend builder
// (blend.js) and this tab's history (history.js). One status region (#status, aria-live) and one error line
// (#error, role=alert) serve them all.
'use strict';

import { getJson, getKey, keyRequired, setKey } from './api.js';
import { initBlend } from './blend.js';
import { initCompose } from './compose.js';
import { initGallery } from './gallery.js';
import { initHistory } from './history.js';
import { initLive } from './live.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
const error = $('error');

function announce(message) {
  status.textContent = message || '';
}

function showError(message) {
  error.textContent = message || '';
  error.hidden = !message;
}

function initKey() {
  const section = $('key-section');
  const panel = $('key-panel');
  const input = $('apikey');
  input.value = getKey();
  // Shown when the server wants a key, and whenever a key was refused (a proxy may add auth).
  section.hidden = !keyRequired;
  if (keyRequired && !input.value) panel.open = true;
  input.addEventListener('input', () => setKey(input.value));
  $('key-forget').addEventListener('click', () => {
    input.value = '';
    setKey('');
    announce('API key forgotten.');
    input.focus();
  });
  window.addEventListener('polyvox:unauthorized', () => {
    section.hidden = false;
    panel.open = true;
    input.focus();
  });
}

async function main() {
  initKey();
  const addHistory = initHistory({ onPlay: (entry) => compose.show(entry) });
  const compose = initCompose({ announce, showError, onResult: addHistory });
  initLive({
    announce,
    showError,
    settings: () => ({
      voice: $('voice').value.trim() || undefined, lang: $('lang').value, speed: Number($('speed').value) || 1,
    }),
  });
  try {
    const [langs, vs] = await Promise.all([getJson('/v1/languages'), getJson('/v1/voices')]);
    const languages = langs.data.filter((l) => l.supported);
    if (!languages.length) throw new Error('this server has no language loaded');
    compose.fillLanguages(languages);
    const blend = initBlend({
      voices: vs.data,
      onUse: (spec) => compose.setVoice(spec, `the blend ${spec}`),
      announce,
      showError,
    });
    initGallery({
      voices: vs.data,
      languages: langs.data,
      onUse: (v) => compose.setVoice(v.id, `${v.name} (${v.id})`),
      onAddToBlend: (v) => blend.add(v),
      announce,
      showError,
    });
  } catch (e) {
    showError(`Could not load languages and voices: ${e.message}`);
  }
}

main();
