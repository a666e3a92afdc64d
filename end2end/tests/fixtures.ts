import { test as base, expect, Page, FrameLocator, APIRequestContext } from '@playwright/test';

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
  await ui.locator('#phone').fill(phone);
  await ui.getByTestId('phone-form').locator('button[type=submit]').click();
  await expect(ui.getByTestId('code-sent')).toContainText(phone.slice(-3));
  await ui.locator('#code').fill(await codeFor(request, phone));
  await ui.getByTestId('code-form').locator('button[type=submit]').click();
  const profile = ui.getByTestId('profile-form');
  await expect(profile.or(ui.getByTestId('signin-done')).or(ui.getByTestId('signin-failed'))).toBeVisible();
  if (await profile.isVisible()) {
    await ui.locator('#full_name').fill(name);
    await ui.locator('#date_of_birth').fill('1990-05-17');
    await profile.locator('button[type=submit]').click();
  }
}

