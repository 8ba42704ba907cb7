// Drives the Polyvox page in headless Chromium: usage `node page_test.cjs URL CHROMIUM_PATH`.
// Prints `duration=<seconds>` once the page's <audio> element has loaded speech.
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
    if (failures.length) throw new Error('page problems: ' + failures.join('; '));
    console.log(`duration=${duration} download=${download.slice(0, 30)}`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
