// The sign-in frame, measured in Chromium (scripts/bench runs it against the release server):
// the demo shop's iFrame page with the CPU slowed 4×, the bytes the provider sent over the wire
// for it (documents, styles, scripts, wasm: everything from the provider's origin), and the time
// from the partner page's first request to the provider until the frame's phone form takes
// input, and from navigation (the partner's own page included); the median of three fresh loads. The hydrated top-level sign-in page
// is measured the same way, as the comparison (interactive once the wasm has hydrated it).
// Usage: node end2end/frame-bench.cjs PROVIDER_URL DEMO_URL   (prints two Markdown rows)
const { chromium } = require('@playwright/test');

const [provider, demo] = process.argv.slice(2);
if (!provider || !demo) {
  console.error('usage: node frame-bench.cjs PROVIDER_URL DEMO_URL');
  process.exit(2);
}

async function measure(browser, url, ready) {
  // a fresh context: nothing cached, no session
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  const finished = [];
  page.on('requestfinished', (r) => finished.push(r));
  let firstOurs = null; // when the partner's page first asks the provider for something
  page.on('request', (r) => {
    if (firstOurs === null && r.url().startsWith(provider)) firstOurs = Date.now();
  });
  const start = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await ready(page);
  const usable = Date.now();
  const interactive = usable - start;
  const ours = usable - firstOurs;
  await page.waitForLoadState('networkidle');
  let bytes = 0;
  const files = [];
  for (const r of finished) {
    if (!r.url().startsWith(provider)) continue;
    const sizes = await r.sizes();
    bytes += sizes.responseBodySize + sizes.responseHeadersSize;
    files.push(r.url().replace(provider, '').split('?')[0]);
  }
  await context.close();
  return { bytes, interactive, ours, files };
}

/** The median of three fresh loads (bytes are the same each time). */
async function median(browser, url, ready) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(browser, url, ready));
  runs.sort((a, b) => a.interactive - b.interactive);
  return runs[1];
}

(async () => {
  // the frame in the page's renderer, so the CPU slowdown applies to it too (it is cross-site)
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-site-isolation-trials', '--disable-features=IsolateOrigins,site-per-process'],
  });
  const frame = await median(browser, `${demo}/iframe`, async (page) => {
    const phone = page.frameLocator('#skyjoy').locator('#phone');
    await phone.waitFor({ state: 'visible' });
    await phone.fill('0912345678'); // usable: it takes input
  });
  const top = await median(browser, `${demo}/login`, async (page) => {
    await page.waitForFunction(() => document.body.dataset.hydrated === '1', null, { timeout: 60_000 });
    await page.locator('#phone').fill('0912345678');
  });
  await browser.close();
  const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
  const row = (label, m, files) => console.log(`| ${label} | ${kb(m.bytes)} | ${m.ours} ms (${m.interactive} ms with the partner's page) | ${files} |`);
  row("sign-in frame in the demo shop's iFrame page", frame, `${frame.files.length} files: ${frame.files.join(' ')}`);
  row('top-level sign-in page, hydrated (the comparison)', top, `${top.files.length} files`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
