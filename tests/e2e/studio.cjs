// Drives Polyvox Studio (/) and the docs (/docs) in Debian's headless Chromium through
// playwright-core. Usage:
//   node studio.cjs SCENARIO URL CHROMIUM_PATH API_KEY OUT_DIR [ARG]
// Each scenario acts as a user would, throws on what a user would see go wrong, and prints one line
// `RESULT <json>` with what the Python test (test_page.py) checks further: durations, the
// progress seen, job ids, files saved in OUT_DIR. Every scenario fails on page errors, requests
// to other origins and any Content-Security-Policy violation.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [scenario, url, executablePath, apiKey, outDir, arg] = process.argv.slice(2);

const visibleIds = (page) => page.$$eval('#gallery .voice-card', (cards) => cards.filter((c) => !c.hidden).map((c) => c.dataset.voice));

// Chooses a .txt file; the page reads it asynchronously, so wait until the text box holds it.
async function upload(page, file) {
  await page.setInputFiles('#file', file);
  await page.waitForFunction(() => / from /.test(document.querySelector('#mode-hint').textContent), null, { timeout: 30000 });
}

async function waitAudio(page, sel, timeout = 180000) {
  await page.waitForFunction((s) => {
    const a = document.querySelector(s);
    return a && Number(a.dataset.duration) > 0;
  }, sel, { timeout });
  return page.$eval(sel, (a) => Number(a.dataset.duration));
}

async function noError(page) {
  const text = await page.$eval('#error', (e) => (e.hidden ? '' : e.textContent.trim()));
  if (text) throw new Error(`page shows an error: ${text}`);
}

/** Fills the API key when the page asks for one (a keyed server). */
async function enterKey(page) {
  if (await page.isVisible('#apikey')) await page.fill('#apikey', apiKey);
}

/** The accessible name a screen reader would read for the focused element (enough for our page). */
function focusedInfo() {
  const e = document.activeElement;
  if (!e || e === document.body) return { tag: 'body', name: '' };
  const labelled = e.getAttribute('aria-labelledby');
  const name = e.getAttribute('aria-label')
    || (labelled && document.getElementById(labelled)?.textContent)
    || (e.labels && e.labels.length ? [...e.labels].map((l) => l.textContent).join(' ') : '')
    || e.textContent || e.getAttribute('placeholder') || '';
  const r = e.getBoundingClientRect();
  return { tag: e.tagName.toLowerCase(), id: e.id, name: name.replace(/\s+/g, ' ').trim(), visible: r.width > 0 && r.height > 0 };
}

const scenarios = {
  // Type, choose a language and voice, speak: audio with a duration and a download link.
  async speak(page) {
    await enterKey(page);
    await page.waitForSelector('#lang option[value="en-gb"]', { state: 'attached', timeout: 30000 });
    await page.selectOption('#lang', 'en-gb');
    await page.fill('#voice', 'bf_emma');
    await page.fill('#text', 'Hello from the Polyvox web page, tested in a real browser.');
    await page.click('#speak');
    const duration = await waitAudio(page, '#audio');
    await noError(page);
    const download = await page.$eval('#download', (a) => (a.hidden ? '' : a.getAttribute('href') || ''));
    if (!download) throw new Error('no download link after speaking');
    const items = await page.$$eval('#history-list li', (l) => l.map((li) => li.textContent));
    if (items.length !== 1 || !items[0].includes('bf_emma')) throw new Error(`history is ${JSON.stringify(items)}`);
    const csp = await page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
    if (!csp || !csp.includes("frame-ancestors 'none'")) throw new Error(`page has no CSP: ${csp}`);
    return { duration, history: items };
  },

  // Find the original service's voices, filter, preview one and use it.
  async gallery(page) {
    await page.waitForSelector('#gallery .voice-card', { state: 'attached', timeout: 30000 });
    const found = {};
    for (const [name, id] of [['Sky', 'af_sky'], ['Adam', 'am_adam'], ['Bella', 'af_bella'], ['Michael', 'am_michael'], ['Misaki', 'jf_alpha']]) {
      await page.fill('#voice-search', name);
      const ids = await visibleIds(page);
      if (!ids.includes(id)) throw new Error(`searching ${name} shows ${ids}, not ${id}`);
      found[name] = ids;
    }
    await page.fill('#voice-search', '');
    await page.selectOption('#filter-lang', 'en-gb');
    await page.selectOption('#filter-gender', 'male');
    const british = await visibleIds(page);
    const count = await page.textContent('#gallery-count');
    await page.selectOption('#filter-lang', '');
    await page.selectOption('#filter-gender', '');
    const all = (await visibleIds(page)).length;
    await page.fill('#voice-search', 'Bella');
    await page.click('button[aria-label="Preview Bella (af_bella)"]');
    await page.waitForFunction(() => {
      const a = document.querySelector('#preview-audio');
      return a.dataset.voice === 'af_bella' && Number(a.dataset.duration) > 0 && (a.currentTime > 0.2 || a.ended);
    }, null, { timeout: 180000 });
    const preview = await page.$eval('#preview-audio', (a) => ({
      duration: Number(a.dataset.duration), played: a.played.length > 0 && a.played.end(0) > 0.2, src: a.getAttribute('src'),
    }));
    await page.click('button[aria-label="Use Bella (af_bella)"]');
    const voice = await page.inputValue('#voice');
    const status = await page.textContent('#status');
    await noError(page);
    return { found, british, count, all, preview, voice, status };
  },

  // Build a blend with the gallery and the builder, weigh it with a slider, speak with it.
  async blend(page) {
    await enterKey(page);
    await page.waitForSelector('#gallery .voice-card', { state: 'attached', timeout: 30000 });
    await page.fill('#voice-search', 'Bella');
    await page.click('button[aria-label="Add Bella (af_bella) to the blend"]');
    await page.selectOption('#blend-voice', 'af_sky');
    await page.click('#blend-add');
    await page.focus('#blend-w-af_bella');
    await page.keyboard.press('ArrowRight');
    const spec = await page.textContent('#blend-spec');
    await page.click('#blend-use');
    const voice = await page.inputValue('#voice');
    await page.fill('#text', 'Two voices, blended into one.');
    await page.click('#speak');
    const duration = await waitAudio(page, '#audio');
    await noError(page);
    return { spec, voice, duration };
  },

  // Words light up in order while the audio plays: the streamed MP3 (server-sent events, words
  // before their audio) and a WAV answered as one JSON document. Clicking a word seeks to it.
  async highlight(page) {
    await enterKey(page);
    const text = 'The quick brown fox jumps over the lazy dog. At 9:45 it cost $12.50, and then it rained.';
    const out = {};
    for (const format of ['mp3', 'wav']) {
      await page.selectOption('#format', format);
      await page.fill('#text', text);
      // Every change of the lit word, recorded in the page (polling from here would miss short
      // words on a loaded machine).
      await page.evaluate(() => {
        window.litWords = [];
        const w = document.querySelector('#words');
        new MutationObserver(() => {
          const i = Number(w.dataset.current);
          if (i >= 0 && window.litWords[window.litWords.length - 1] !== i) window.litWords.push(i);
        }).observe(w, { attributes: true, attributeFilter: ['data-current'] });
      });
      await page.click('#speak');
      await page.waitForFunction(() => Number(document.querySelector('#words').dataset.count) > 0, null, { timeout: 180000 });
      await page.waitForFunction(() => {
        const a = document.querySelector('#audio');
        return a.ended && a.currentTime > 0;
      }, null, { timeout: 180000 });
      const seen = await page.evaluate(() => window.litWords);
      await noError(page);
      const shown = await page.$eval('#words', (w) => ({
        text: w.textContent, count: Number(w.dataset.count),
        words: [...w.querySelectorAll('.word')].map((s) => s.textContent),
      }));
      // Click the word "lazy": the player seeks to its start.
      const lazy = shown.words.indexOf('lazy');
      await page.click(`#words .word[data-index="${lazy}"]`);
      await page.waitForTimeout(300);
      const after = await page.evaluate((i) => ({
        time: document.querySelector('#audio').currentTime,
        start: Number(document.querySelector(`#words .word[data-index="${i}"]`).dataset.start),
      }), lazy);
      await page.evaluate(() => document.querySelector('#audio').pause());
      out[format] = { seen, shown, lazy, after };
    }
    return { text, ...out };
  },

  // Live mode: typed key by key into the socket; audio comes back before the session is closed,
  // and Stop speaks the rest and ends it with the server's count of the characters.
  async live(page) {
    await enterKey(page);
    await page.fill('#voice', 'af_heart');
    await page.click('#live-start');
    await page.waitForFunction(() => document.querySelector('#live').dataset.state === 'open', null, { timeout: 30000 });
    const first = 'Hello, this is live mode, typed one key at a time. ';
    const rest = 'Every word is sent as it is typed, and spoken as it arrives.';
    await page.focus('#live-text');
    await page.keyboard.type(first, { delay: 30 });
    // The first sentence is spoken while the session is still open.
    await page.waitForFunction(() => Number(document.querySelector('#live').dataset.bytes) > 0, null, { timeout: 120000 });
    const bytesBeforeStop = Number(await page.$eval('#live', (e) => e.dataset.bytes));
    await page.keyboard.type(rest, { delay: 30 });
    await page.click('#live-stop');
    await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#live').dataset.state), null, { timeout: 180000 });
    await noError(page);
    const r = await page.$eval('#live', (e) => ({
      state: e.dataset.state, bytes: Number(e.dataset.bytes), characters: Number(e.dataset.characters),
      status: document.querySelector('#live-state').textContent,
    }));
    return { text: first + rest, bytesBeforeStop, ...r };
  },

  // A long text becomes a job; cancel it while it renders.
  async cancel(page) {
    await enterKey(page);
    await page.fill('#text', fs.readFileSync(arg, 'utf8'));
    const hint = await page.textContent('#mode-hint');
    await page.click('#speak');
    await page.waitForFunction(() => /chunk \d+ of \d+/.test(document.querySelector('#progress-text').textContent),
      null, { timeout: 180000 });
    const jobId = await page.$eval('#job', (e) => e.dataset.jobId);
    const before = Number(await page.$eval('#progress', (p) => p.dataset.percent));
    await page.click('#cancel');
    await page.waitForFunction(() => /cancelled/.test(document.querySelector('#status').textContent), null, { timeout: 120000 });
    await noError(page);
    const cancelHidden = await page.$eval('#cancel', (b) => b.hidden);
    const history = await page.$$eval('#history-list li', (l) => l.length);
    return { jobId, hint, before, cancelHidden, history };
  },

  // A .txt upload renders as a job: the progress bar climbs to 100 % and the file downloads.
  async long(page) {
    await enterKey(page);
    await upload(page, arg);
    const hint = await page.textContent('#mode-hint');
    const started = Date.now();
    await page.click('#speak');
    const seen = [];
    try {
      for (;;) {
        const [pct, status, error] = await page.evaluate(() => [Number(document.querySelector('#progress').dataset.percent),
          document.querySelector('#status').textContent, document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent]);
        if (!seen.length || seen[seen.length - 1] !== pct) seen.push(pct);
        if (error) throw new Error(`page shows an error: ${error}`);
        if (/ready to play and download/.test(status)) break;
        if (Date.now() - started > 25 * 60 * 1000) throw new Error(`no result after 25 min; progress ${seen}`);
        await page.waitForTimeout(500);
      }
    } catch (e) {
      // Leave no job running for the tests after this one.
      if (await page.isVisible('#cancel')) await page.click('#cancel').catch(() => {});
      throw e;
    }
    const jobId = await page.$eval('#job', (e) => e.dataset.jobId);
    const bar = await page.$eval('#progress', (p) => ({ value: p.value, max: p.max, text: document.querySelector('#progress-text').textContent }));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const file = path.join(outDir, 'long.mp3');
    await download.saveAs(file);
    const history = await page.$$eval('#history-list li', (l) => l.map((li) => li.textContent));
    return { hint, seen, bar, jobId, file, history, seconds: (Date.now() - started) / 1000 };
  },

  // Keyboard only: key, search, preview, use, and speak, with every stop named.
  async keyboard(page) {
    await page.waitForSelector('#gallery .voice-card', { state: 'attached', timeout: 30000 });
    const stops = [];
    const tab = async (shift) => {
      await page.keyboard.press(shift ? 'Shift+Tab' : 'Tab');
      const f = await page.evaluate(focusedInfo);
      stops.push(f);
      if (f.tag !== 'body' && (!f.name || !f.visible)) throw new Error(`focus on an unnamed or invisible element: ${JSON.stringify(f)}`);
      return f;
    };
    let f;
    for (let i = 0; i < 60; i++) {
      f = await tab(false);
      if (f.id === 'apikey') await page.keyboard.type(apiKey);
      if (f.id === 'voice-search') break;
    }
    if (f.id !== 'voice-search') throw new Error(`Tab never reached the voice search: ${JSON.stringify(stops)}`);
    await page.keyboard.type('Michael');
    // Past the two filters and the preview player to the first (only) card.
    const afterSearch = [];
    for (let i = 0; i < 8 && f.name !== 'Preview Michael (am_michael)'; i++) afterSearch.push((f = await tab(false)).name);
    if (f.name !== 'Preview Michael (am_michael)') throw new Error(`after the search, Tab went to ${JSON.stringify(afterSearch)}`);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => {
      const a = document.querySelector('#preview-audio');
      return a.dataset.voice === 'am_michael' && Number(a.dataset.duration) > 0 && (a.currentTime > 0 || a.ended);
    }, null, { timeout: 180000 });
    f = await tab(false);
    if (f.name !== 'Use Michael (am_michael)') throw new Error(`Tab went to ${JSON.stringify(f)}`);
    await page.keyboard.press('Enter');
    const voice = await page.inputValue('#voice');
    for (let i = 0; i < 80 && f.id !== 'speak'; i++) f = await tab(true);
    if (f.id !== 'speak') throw new Error('Shift+Tab never reached Speak');
    await page.keyboard.press('Enter');
    const duration = await waitAudio(page, '#audio');
    await noError(page);
    // Every control on the page has a name a screen reader can read.
    const unnamed = await page.$$eval('button, input, select, textarea, audio[controls], progress', (els) => els
      .filter((e) => !e.closest('[hidden]') && !e.hidden)
      .filter((e) => !(e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.labels && e.labels.length)
        || (e.tagName === 'BUTTON' && e.textContent.trim())))
      .map((e) => e.outerHTML.slice(0, 80)));
    const live = await page.$eval('#status', (s) => s.getAttribute('aria-live') || s.getAttribute('role'));
    return { stops: stops.map((s) => s.name || s.tag), afterSearch, voice, duration, unnamed, live };
  },

  // A phone-width screen: nothing wider than the viewport, even with a blend and long ids.
  async phone(page) {
    await page.waitForSelector('#gallery .voice-card', { state: 'attached', timeout: 30000 });
    for (const id of ['af_bella', 'af_sky', 'am_michael', 'bf_isabella']) {
      await page.selectOption('#blend-voice', id);
      await page.click('#blend-add');
    }
    await page.click('#blend-use');
    const widths = await page.evaluate(() => ({
      viewport: window.innerWidth, doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
      widest: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).slice(0, 5),
    }));
    const shot = path.join(outDir, 'phone.png');
    await page.screenshot({ path: shot, fullPage: true });
    return { widths, shot };
  },

  // Screenshots for the README (not a test; `ARG` is a long .txt for the job in progress).
  async screenshots(page) {
    await page.waitForSelector('#gallery .voice-card', { state: 'attached', timeout: 30000 });
    await enterKey(page);
    await page.evaluate(() => { document.querySelector('#key-panel').open = false; });
    for (const id of ['af_bella', 'af_sky']) {
      await page.selectOption('#blend-voice', id);
      await page.click('#blend-add');
    }
    await page.focus('#blend-w-af_bella');
    await page.keyboard.press('ArrowRight');
    await page.click('#blend-use');
    await page.click('#speak');
    await waitAudio(page, '#audio');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(outDir, 'studio.png') });
    await page.selectOption('#filter-lang', 'en-gb');
    await page.click('button[aria-label="Preview Emma (bf_emma)"]');
    await waitAudio(page, '#preview-audio');
    await (await page.$('#voices')).screenshot({ path: path.join(outDir, 'studio-gallery.png') });
    await (await page.$('#blend')).screenshot({ path: path.join(outDir, 'studio-blend.png') });
    await upload(page, arg);
    await page.click('#speak');
    await page.waitForFunction(() => Number(document.querySelector('#progress').dataset.percent) >= 10,
      null, { timeout: 600000 });
    await (await page.$('#compose')).screenshot({ path: path.join(outDir, 'studio-job.png') });
    await page.click('#cancel');
    await page.waitForFunction(() => /cancelled/.test(document.querySelector('#status').textContent));
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(outDir, 'studio-phone.png') });
    return {};
  },

  // The docs render Markdown and carry a curl and an SDK example per operation.
  async docs(page) {
    await page.goto(`${url}/docs`, { waitUntil: 'load' });
    await page.waitForSelector('#ops h2', { state: 'attached', timeout: 30000 });
    await noError(page);
    const out = await page.evaluate(() => {
      const texts = [...document.querySelectorAll('#description, .md, .op td')].map((e) => e.textContent);
      return {
        backticks: texts.filter((t) => t.includes('`')).slice(0, 5),
        codeInDescription: [...document.querySelectorAll('#description code')].map((c) => c.textContent),
        ops: document.querySelectorAll('.op').length,
        examples: [...document.querySelectorAll('pre.example')].map((p) => ({
          kind: p.dataset.kind, method: p.dataset.method, path: p.dataset.path, text: p.textContent })),
      };
    });
    // The renderer itself, on hostile input: markup stays text, script URLs are no links.
    out.hostile = await page.evaluate(async () => {
      const md = await import('/static/markdown.js');
      const div = md.render('<img src=x onerror="window.pwned=1"> [x](javascript:window.pwned=1) **b** `c`\n\n- a\n- b');
      document.body.append(div);
      return { html: div.innerHTML, pwned: Boolean(window.pwned), links: div.querySelectorAll('a').length };
    });
    fs.writeFileSync(path.join(outDir, 'examples.json'), JSON.stringify(out.examples, null, 1));
    out.examples = out.examples.length;
    return out;
  },

  // A job's WebVTT captions on a media element, as a player loads them: the file parses into
  // cues, and seeking the audio into a cue makes that cue the active one. ARG is the job id.
  async captions(page) {
    return page.evaluate(async ([id, key]) => {
      const get = async (p) => {
        const r = await fetch(p, { headers: { Authorization: `Bearer ${key}` } });
        if (!r.ok) throw new Error(`${p}: ${r.status}`);
        return URL.createObjectURL(await r.blob());
      };
      // A <video> element: Chromium loads text tracks for video, which plays an audio-only file too.
      const audio = document.createElement('video');
      audio.preload = 'auto';
      audio.src = await get(`/v1/jobs/${id}/audio`);
      const track = document.createElement('track');
      track.kind = 'captions';
      track.srclang = 'en';
      track.default = true;
      track.src = await get(`/v1/jobs/${id}/captions?format=vtt`);
      const loaded = new Promise((ok, fail) => {
        track.addEventListener('load', ok);
        track.addEventListener('error', () => fail(new Error(`the track failed to load (${track.src})`)));
      });
      audio.append(track);
      document.body.append(audio);
      track.track.mode = 'showing';
      await loaded;
      await new Promise((ok) => { if (audio.readyState >= 1) ok(); else audio.addEventListener('loadedmetadata', ok); });
      const cues = [...track.track.cues].map((c) => ({ start: c.startTime, end: c.endTime, text: c.text }));
      const target = cues[Math.min(1, cues.length - 1)];
      audio.currentTime = (target.start + target.end) / 2;
      await new Promise((ok) => audio.addEventListener('seeked', ok, { once: true }));
      await new Promise((ok) => setTimeout(ok, 200));
      const active = [...track.track.activeCues].map((c) => c.text);
      return { cues, active, expected: target.text, duration: audio.duration, readyState: track.readyState };
    }, [arg, apiKey]);
  },
};

(async () => {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios)}`);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const phone = scenario === 'phone';
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: phone ? { width: 390, height: 844 } : { width: 1200, height: 900 },
      deviceScaleFactor: 1,
      hasTouch: phone,
    });
    const page = await context.newPage();
    const failures = [];
    page.on('pageerror', (e) => failures.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith(url) && !/^(blob|data):/.test(r.url())) failures.push(`external request: ${r.url()}`); });
    // Chromium reports every Content-Security-Policy refusal on the console: the pages must satisfy
    // the policy the server sends, not merely work around it.
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) failures.push(`CSP: ${m.text()}`); });
    await page.goto(`${url}/`, { waitUntil: 'load' });
    const result = await run(page);
    if (failures.length) throw new Error(`page problems: ${failures.join('; ')}`);
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
