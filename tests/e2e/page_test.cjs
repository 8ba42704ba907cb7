// Drives the Polyvox page in headless Chromium: usage `node page_test.cjs URL CHROMIUM_PATH`.
// Prints `duration=<seconds>` once the page's <audio> element has loaded speech, then renders /docs;
// fails on page errors, external requests or any Content-Security-Policy violation on either page.
const { chromium } = require('playwright-core');

(async () => {
  const [url, executablePath, apiKey] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    const failures = [];
    page.on('pageerror', (e) => failures.push(String(e)));
    page.on('requestfailed', (r) => { if (!r.url().startsWith(url)) failures.push('external request: ' + r.url()); });
    // Chromium reports every Content-Security-Policy refusal on the console: the pages must satisfy
    // the policy the server sends, not merely work around it.
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) failures.push('CSP: ' + m.text()); });
    await page.goto(url + '/', { waitUntil: 'load' });
    await page.waitForSelector('#voice option', { state: 'attached', timeout: 30000 });
    await page.selectOption('#lang', 'en-gb');
    await page.waitForFunction(() => [...document.querySelectorAll('#voice option')].some((o) => o.value === 'bf_emma'));
    await page.selectOption('#voice', 'bf_emma');
    if (apiKey) await page.fill('#apikey', apiKey);
    await page.fill('#text', 'Hello from the Polyvox web page, tested in a real browser.');
    await page.click('#speak');
    await page.waitForFunction(() => {
      const a = document.querySelector('#audio');
      return a && Number(a.dataset.duration) > 0;
    }, null, { timeout: 120000 });
    const duration = await page.$eval('#audio', (a) => Number(a.dataset.duration));
    const errorText = await page.$eval('#error', (e) => e.textContent.trim()).catch(() => '');
    const download = await page.$eval('#download', (a) => a.getAttribute('href') || '');
    if (errorText) throw new Error('page shows an error: ' + errorText);
    if (!download) throw new Error('no download link after speaking');
    const csp = await page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
    if (!csp || !csp.includes("frame-ancestors 'none'")) throw new Error('page has no CSP: ' + csp);
    await page.goto(url + '/docs', { waitUntil: 'load' });
    await page.waitForSelector('#ops h2', { state: 'attached', timeout: 30000 });
    const docsError = await page.$eval('#error', (e) => (e.hidden ? '' : e.textContent.trim()));
    if (docsError) throw new Error('docs page shows an error: ' + docsError);
    if (failures.length) throw new Error('page problems: ' + failures.join('; '));
    console.log(`duration=${duration} download=${download.slice(0, 30)}`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
