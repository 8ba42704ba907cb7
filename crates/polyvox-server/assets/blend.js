// The blend builder: pick voices, weigh them with sliders, get the `a(2)+b(1)` voice string the
// API accepts (polyvox_core::VoiceSpec::parse), and hand it to the composer.
'use strict';

const $ = (id) => document.getElementById(id);
/** The API's limit (polyvox_core::voice::MAX_BLEND_VOICES). */
const MAX_VOICES = 8;

/** `[{id, weight}]` → the API's voice string: one voice alone is just its id. */
export function blendSpec(parts) {
  if (parts.length === 1) return parts[0].id;
  return parts.map((p) => `${p.id}(${p.weight})`).join('+');
}

/**
 * Wires the builder. `voices` is /v1/voices (only those this server speaks are offered);
 * `onUse(spec)` sets the composer's voice. Returns `{ add(voice) }` for the gallery's buttons.
 */
export function initBlend({ voices, onUse, announce, showError }) {
  const select = $('blend-voice');
  const addBtn = $('blend-add');
  const list = $('blend-list');
  const spec = $('blend-spec');
  const use = $('blend-use');
  const byId = new Map(voices.map((v) => [v.id, v]));
  const parts = [];

  select.replaceChildren(...voices.filter((v) => v.supported).map((v) => {
    const o = document.createElement('option');
    o.value = v.id;
    o.textContent = `${v.name} (${v.id})`;
    return o;
  }));

  function render() {
    list.replaceChildren(...parts.map((p, i) => {
      const v = byId.get(p.id);
      const li = document.createElement('li');
      li.className = 'blend-row';
      li.dataset.voice = p.id;
      const id = `blend-w-${p.id}`;
      const label = document.createElement('label');
      label.htmlFor = id;
      label.textContent = `${v.name} (${p.id}) weight`;
      const slider = document.createElement('input');
      Object.assign(slider, { type: 'range', id, min: '1', max: '10', step: '1', value: String(p.weight) });
      const out = document.createElement('output');
      out.htmlFor = id;
      out.className = 'share';
      slider.addEventListener('input', () => {
        p.weight = Number(slider.value);
        update();
      });
      const remove = document.createElement('button');
      Object.assign(remove, { type: 'button', className: 'secondary', textContent: 'Remove' });
      remove.setAttribute('aria-label', `Remove ${v.name} from the blend`);
      remove.addEventListener('click', () => {
        parts.splice(i, 1);
        render();
        announce(`${v.name} removed from the blend.`);
        (list.querySelector('input') || select).focus();
      });
      li.append(label, slider, out, remove);
      return li;
    }));
    update();
  }

  function update() {
    const total = parts.reduce((t, p) => t + p.weight, 0);
    list.querySelectorAll('.blend-row').forEach((row, i) => {
      const p = parts[i];
      row.querySelector('output').textContent = `${p.weight} · ${Math.round((100 * p.weight) / total)} %`;
      row.querySelector('input').setAttribute('aria-valuetext', `weight ${p.weight}, ${Math.round((100 * p.weight) / total)} percent`);
    });
    const ready = parts.length >= 2;
    spec.textContent = parts.length ? blendSpec(parts) : '(add two or more voices)';
    use.disabled = !ready;
  }

  function add(v) {
    showError('');
    if (parts.some((p) => p.id === v.id)) {
      announce(`${v.name} is already in the blend.`);
      return;
    }
    if (parts.length >= MAX_VOICES) {
      showError(`A blend has at most ${MAX_VOICES} voices; remove one first.`);
      return;
    }
    parts.push({ id: v.id, weight: 1 });
    render();
    announce(`${v.name} added to the blend (${parts.length} voice${parts.length > 1 ? 's' : ''}).`);
  }

  addBtn.addEventListener('click', () => {
    const v = byId.get(select.value);
    if (v) add(v);
  });
  use.addEventListener('click', () => onUse(blendSpec(parts)));
  render();
  return { add };
}
