import { test as base, expect, Page } from '@playwright/test';

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
