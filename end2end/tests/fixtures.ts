import { test as base, expect, Browser, BrowserContext, Page, FrameLocator, APIRequestContext } from '@playwright/test';
import * as fs from 'node:fs';

/** Fails the test on any console error or uncaught page error. */
export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    await use(errors);
    expect(errors, 'console errors').toEqual([]);
  },
});
export { expect };

/** Waits until the wasm has hydrated the page: a hydrated toggle reacts to a click. */
export async function waitForHydration(page: Page) {
  const toggle = page.getByRole('button', { expanded: false }).first();
  await expect(async () => {
    await toggle.click();
    await expect(page.locator('button[aria-expanded="true"]').first()).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await page.locator('button[aria-expanded="true"]').first().click();
  await expect(page.locator('button[aria-expanded="true"]')).toHaveCount(0);
}

// The demo partner runs on another site (localhost) than the provider (127.0.0.1): see
// playwright.config.ts. Every test signs in a fresh phone number.
export const provider = () => base.info().project.use.baseURL as string;
export const demo = () => process.env.E2E_DEMO_URL ?? `http://localhost:${Number(process.env.E2E_PORT ?? 3107) + 1}`;

export function freshPhone(): string {
  return '09' + String(Math.floor(Math.random() * 1e8)).padStart(8, '0');
}

/** The latest code the sandbox "sent" to `phone`. */
export async function codeFor(request: APIRequestContext, phone: string): Promise<string> {
  let code = '';
  await expect(async () => {
    const res = await request.get(`${provider()}/sandbox/sms?phone=${phone}`);
    const inbox = await res.json();
    expect(inbox.messages.length).toBeGreaterThan(0);
    code = inbox.messages[0].text.slice(0, 6);
  }).toPass({ timeout: 10_000 });
  return code;
}

/** Phone → code → (profile for a new member), in a page or a frame. */
export async function signIn(ui: Page | FrameLocator, request: APIRequestContext, phone: string, name = 'Nguyễn Văn Thử') {
  const page = 'goto' in ui ? ui : undefined;
  await expect(ui.locator('#phone')).toBeVisible();
  if (page) await expectAccessible(page, 'sign-in: phone');
  await ui.locator('#phone').fill(phone);
  await ui.getByTestId('phone-form').locator('button[type=submit]').click();
  await expect(ui.getByTestId('code-sent')).toContainText(phone.slice(-3));
  if (page) await expectAccessible(page, 'sign-in: code');
  await ui.locator('#code').fill(await codeFor(request, phone));
  await ui.getByTestId('code-form').locator('button[type=submit]').click();
  const profile = ui.getByTestId('profile-form');
  await expect(profile.or(ui.getByTestId('signin-done')).or(ui.getByTestId('signin-failed'))).toBeVisible();
  if (await profile.isVisible()) {
    if (page) await expectAccessible(page, 'sign-in: profile');
    await ui.locator('#full_name').fill(name);
    await ui.locator('#date_of_birth').fill('1990-05-17');
    await profile.locator('button[type=submit]').click();
  }
}


// axe-core (npm), read once and evaluated in each frame it checks: never a <script> tag, so the
// pages' Content-Security-Policy stays as it is.
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const checked = new Set<string>();
const withoutScripts = new WeakSet<BrowserContext>();

/** A context with JavaScript off (a phone before the wasm, or with scripts blocked). Its pages
 *  are the server's HTML, which the same screens with scripts are checked for; axe cannot run
 *  in them. */
export async function noScriptContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ javaScriptEnabled: false });
  withoutScripts.add(context);
  return context;
}

/** Runs axe-core's WCAG 2.1 A and AA rules on what `page` shows now, in every frame (an embedded
 *  sign-in, the SDK dialog), and fails on any violation. At the phone viewport (the `phone`
 *  project) only, and once per `screen` name in a run, so the suite stays quick. */
export async function expectAccessible(page: Page, screen: string) {
  if (base.info().project.name !== 'phone' || checked.has(screen) || withoutScripts.has(page.context())) return;
  checked.add(screen);
  const found: string[] = [];
  for (const frame of page.frames()) {
    if (!/^https?:/.test(frame.url())) continue; // about:blank, a refused frame's error page
    await frame.evaluate(axeSource);
    const violations = await frame.evaluate(async () => {
      const axe = (window as any).axe;
      const wcag = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
      // the WCAG rules axe still calls experimental (off by default) are on too
      const experimental = axe.getRules(['experimental']).filter((r: any) => r.tags.some((t: string) => wcag.includes(t)));
      const result = await axe.run(document, {
        runOnly: { type: 'tag', values: wcag },
        rules: Object.fromEntries(experimental.map((r: any) => [r.ruleId, { enabled: true }])),
        resultTypes: ['violations'],
        iframes: false, // each frame is checked on its own
      });
      return result.violations.map((v: any) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n: any) => `${n.target.join(' ')}: ${n.failureSummary}`).join(' | ')}`);
    });
    found.push(...violations.map((v: string) => `${new URL(frame.url()).pathname}: ${v}`));
  }
  expect(found, `WCAG 2.1 A/AA violations on "${screen}"`).toEqual([]);
}
