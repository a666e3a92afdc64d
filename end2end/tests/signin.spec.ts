import { test, expect, provider, demo, freshPhone, codeFor, signIn, expectAccessible, noScriptContext } from './fixtures';
import { chromium, Page, FrameLocator, APIRequestContext, BrowserContext, TestInfo } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';

test('regular web app: the partner redirects, the member signs up, and comes back signed in', async ({ page, request, consoleErrors }) => {
  await page.goto(`${demo()}/`);
  await expectAccessible(page, 'demo shop');
  await page.getByTestId('demo-login').click();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
  await expect(page.getByTestId('client-name')).toHaveText('Demo Shop');
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await signIn(page, request, freshPhone());
  await expect(page).toHaveURL(`${demo()}/`);
  await expect(page.getByTestId('demo-name')).toHaveText('Nguyễn Văn Thử');
  await expect(page.getByTestId('demo-skyjoy-id')).toHaveText(/^SJ\d{10}$/);
  await expectAccessible(page, 'demo shop: signed in');

  // single sign-on: the provider remembers the member, so a new partner session needs no form
  await page.context().clearCookies({ domain: 'localhost' });
  await page.goto(`${demo()}/`);
  await page.getByTestId('demo-login').click();
  await expect(page).toHaveURL(`${demo()}/`);
  await expect(page.getByTestId('demo-name')).toHaveText('Nguyễn Văn Thử');

  // RP-initiated logout ends the provider session too: the next sign-in asks again
  await page.getByRole('link', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(`${demo()}/`);
  await page.getByTestId('demo-login').click();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
  await expect(page.locator('#phone')).toBeVisible();
  expect(consoleErrors).toEqual([]);
});

test('the sign-in works before any script runs (plain forms), in English', async ({ browser, request }) => {
  const context = await noScriptContext(browser);
  const page = await context.newPage();
  await page.goto(`${demo()}/login?action=signup&lang=en`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Join SkyJoy');
  await page.locator('#phone').fill('12345');
  await page.getByTestId('phone-form').locator('button[type=submit]').click();
  await expect(page.getByTestId('signin-error')).toHaveText('That phone number is not valid. Example: 0912 345 678.');
  await signIn(page, request, freshPhone(), 'Tran Thi Nojs');
  await expect(page).toHaveURL(`${demo()}/`);
  await expect(page.getByTestId('demo-name')).toHaveText('Tran Thi Nojs');
  await context.close();
});

test('a wrong code shows one message and the right one still works', async ({ page, request }) => {
  await page.goto(`${demo()}/login`);
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  const phone = freshPhone();
  await page.locator('#phone').fill(phone);
  await page.getByTestId('phone-form').locator('button[type=submit]').click();
  const code = await codeFor(request, phone);
  await page.locator('#code').fill(code === '000000' ? '111111' : '000000');
  await page.getByTestId('code-form').locator('button[type=submit]').click();
  await expect(page.getByTestId('signin-error')).toHaveText('Mã không đúng hoặc đã hết hạn.');
  await expectAccessible(page, 'sign-in: wrong code');
  await page.locator('#code').fill(code);
  await page.getByTestId('code-form').locator('button[type=submit]').click();
  await expect(page.getByTestId('profile-form')).toBeVisible();
});

// A browser profile whose third-party cookie setting is explicit (Chromium's own preference, as
// chrome://settings/cookies writes it), so the iFrame test does not rest on a default.
async function profile(info: TestInfo, blockThirdPartyCookies: boolean): Promise<BrowserContext> {
  // in the test's output folder, which Playwright clears before each run
  const dir = info.outputPath(blockThirdPartyCookies ? 'profile-blocking' : 'profile-allowing');
  fs.mkdirSync(path.join(dir, 'Default'), { recursive: true });
  const prefs = { profile: { block_third_party_cookies: blockThirdPartyCookies, cookie_controls_mode: blockThirdPartyCookies ? 1 : 0 } };
  fs.writeFileSync(path.join(dir, 'Default', 'Preferences'), JSON.stringify(prefs));
  const context = await chromium.launchPersistentContext(dir, {
    ...info.project.use.launchOptions,
    viewport: info.project.use.viewport ?? undefined,
    locale: 'vi-VN',
  });
  return context;
}

// Whether the provider's frame inside the demo shop may store a cookie: a SameSite=None; Secure
// cookie (the only kind a cross-site frame could ever get) written and read back inside it.
async function frameCookieStored(page: Page): Promise<boolean> {
  await page.goto(`${demo()}/iframe?lang=en`);
  await expect(page.frameLocator('#skyjoy').getByRole('heading', { level: 1 })).toHaveText('Sign in to SkyJoy');
  const frame = page.frames().find((f) => f.url().startsWith(provider()));
  expect(frame, 'the provider frame').toBeTruthy();
  return frame!.evaluate(() => {
    document.cookie = 'joygate_probe=1; SameSite=None; Secure; Path=/';
    return document.cookie.includes('joygate_probe=1');
  });
}

test('iFrame: signs in inside the partner page with third-party cookies blocked', async ({ request }, info) => {
  // the control: the same probe in a profile that allows third-party cookies stores the cookie,
  // so the probe can tell blocking from SameSite rules
  const allowing = await profile(info, false);
  expect(await frameCookieStored(await allowing.newPage()), 'a profile that allows third-party cookies stores one').toBe(true);
  await allowing.close();

  const context = await profile(info, true);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  expect(await frameCookieStored(page), 'third-party cookies are blocked in this profile').toBe(false);
  const frame = page.frameLocator('#skyjoy');
  await expect(page.getByTestId('demo-events')).toContainText('ready');
  await expectAccessible(page, 'demo shop: iFrame sign-in (embedded)');
  await signIn(frame, request, freshPhone(), 'Le Van Iframe');
  await expect(page.getByTestId('demo-name')).toHaveText('Le Van Iframe');
  await expect(page.getByTestId('demo-events')).toContainText('success');
  const providerCookies = await context.cookies(provider());
  expect(providerCookies, 'the embedded flow needed no provider cookie').toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});

test('iFrame: a page on an unregistered origin cannot frame the sign-in', async ({ page }) => {
  // the demo shop's iFrame page served from http://127.0.0.1:PORT instead of the registered
  // http://localhost:PORT: the same page, an origin the client never registered
  const served = page.waitForResponse((r) => r.url().includes('/signin/'));
  await page.goto(demo().replace('localhost', '127.0.0.1') + '/iframe');
  const res = await served;
  expect(res.status()).toBe(200);
  expect(res.headers()['content-security-policy']).toContain(`frame-ancestors ${demo()};`);
  // Chromium replaces a refused frame with its error page
  await expect.poll(() => page.frames().some((f) => f.url().startsWith('chrome-error://')), { timeout: 10_000 }).toBe(true);
  expect(await page.frameLocator('#skyjoy').locator('#phone').count()).toBe(0);
  expect(await page.getByTestId('demo-events').textContent()).toBe('');
});

test('single-page app: the SDK dialog signs in and hands over the claims', async ({ page, request, consoleErrors }) => {
  await page.goto(`${demo()}/spa`);
  await expect(page.locator('[data-skyjoy=button]')).toBeVisible();
  await expectAccessible(page, 'demo shop: single-page app');
  const phone = freshPhone();
  await page.locator('[data-skyjoy=button]').click();
  const dialog = page.frameLocator('[data-skyjoy=dialog] iframe');
  await expect(dialog.locator('#phone')).toBeVisible();
  await expectAccessible(page, 'SDK dialog');
  await signIn(dialog, request, phone, 'Pham Spa Dialog');
  await expect(page.getByTestId('spa-result')).toHaveText(/^Signed in as Pham Spa Dialog \(SJ\d{10}\)$/);
  await expect(page.locator('[data-skyjoy=dialog]')).toHaveCount(0);
  expect(consoleErrors).toEqual([]);
});

test('single-page app: the SDK popup signs in', async ({ page, request }) => {
  await page.goto(`${demo()}/spa`);
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.locator('#popup').click()]);
  await popup.waitForLoadState();
  await signIn(popup, request, freshPhone(), 'Vo Popup');
  await expect(page.getByTestId('spa-result')).toHaveText(/^Signed in as Vo Popup \(SJ\d{10}\)$/);
});

test('linking: the shop links its customer to the SkyJoy ID, and a second shop account is refused', async ({ browser, request }) => {
  const phone = freshPhone();
  const customer = 'SHOP-' + phone.slice(-6);
  // A fresh browser each time, so that the provider's single sign-on does not hide the form.
  const linkAs = async (customerId: string, lang: 'en' | 'vi') => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${demo()}/`);
    const form = page.getByTestId('demo-link-form');
    await form.locator('input[name=customer]').fill(customerId);
    await form.locator('input[name=phone]').fill(phone);
    await form.locator('input[name=lang]').evaluate((el: HTMLInputElement, l) => (el.value = l), lang);
    await form.locator('button[type=submit]').click();
    await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
    await expect(page.locator('#phone'), 'the shop pre-filled the phone').toHaveValue(phone);
    await signIn(page, request, phone, 'Pham Lien Ket');
    return { context, page };
  };

  const first = await linkAs(customer, 'en');
  await expect(first.page).toHaveURL(`${demo()}/`);
  await expect(first.page.getByTestId('demo-customer-id')).toHaveText(customer);
  await expect(first.page.getByTestId('demo-skyjoy-id')).toHaveText(/^SJ\d{10}$/);
  await first.context.close();

  const second = await linkAs(customer + '-B', 'en');
  await expect(second.page.getByTestId('signin-error')).toHaveText('This account is already linked in the system.');
  await expectAccessible(second.page, 'sign-in: already linked');
  await second.page.getByTestId('signin-back').click();
  await expect(second.page.getByTestId('demo-error-code')).toHaveText('ACCOUNT_ALREADY_LINKED');
  await expectAccessible(second.page, 'demo shop: link refused');
  await expect(second.page.getByTestId('demo-error-message')).toHaveText('This account is already linked in the system.');
  await second.context.close();

  const third = await linkAs(customer + '-C', 'vi');
  await expect(third.page.getByTestId('signin-error')).toHaveText('Tài khoản này đã được liên kết trong hệ thống.');
  await third.context.close();
});
