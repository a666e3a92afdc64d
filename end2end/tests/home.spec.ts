import { test, expect, waitForHydration, expectAccessible, noScriptContext } from './fixtures';

test('the home page is complete before any script runs', async ({ browser }) => {
  const context = await noScriptContext(browser);
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByTestId('tagline')).toHaveText('Nền tảng tích điểm và tích hợp siêu ứng dụng, tự vận hành');
  await expect(page.getByTestId('integration')).toHaveCount(4);
  // without wasm the language switch is a plain link the server understands
  await page.getByTestId('lang-switch').click();
  await expect(page).toHaveURL(/\?lang=en$/);
  await expect(page.getByTestId('tagline')).toHaveText('Self-hosted loyalty and super-app integration platform');
  await context.close();
});

test('hydrates: the details toggles react, with no console errors', async ({ page, consoleErrors }) => {
  await page.goto('/');
  await waitForHydration(page);
  await expectAccessible(page, 'home');
  const card = page.getByTestId('integration').nth(2);
  const toggle = card.getByRole('button');
  await expect(card.locator('.endpoints')).toBeHidden();
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await expect(card.locator('.endpoints')).toBeVisible();
  await expectAccessible(page, 'home: details open');
  await expect(card.getByText('/miniapp/tikivip/payment/ipn')).toBeVisible();
  await toggle.click();
  await expect(card.locator('.endpoints')).toBeHidden();
  // the sign-in integration is live: its discovery document is a link that answers
  const signin = page.getByTestId('integration').nth(0);
  await signin.getByRole('button').click();
  await expect(signin.locator('.badge.live')).toHaveCount(4);
  await signin.getByRole('link', { name: '/.well-known/openid-configuration' }).click();
  await expect(page.locator('body')).toContainText('"issuer"');
  expect(consoleErrors).toEqual([]);
});

test('switches language in place, and the choice survives a reload', async ({ page, consoleErrors }) => {
  await page.goto('/');
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__stillHere = true));
  await page.getByTestId('lang-switch').click();
  await expect(page.getByTestId('tagline')).toHaveText('Self-hosted loyalty and super-app integration platform');
  await expect(page.getByTestId('integration').first().getByRole('button')).toHaveText('Show details');
  expect(new URL(page.url()).search, 'no navigation happened').toBe('');
  expect(await page.evaluate(() => (window as any).__stillHere)).toBe(true);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expectAccessible(page, 'home, in English');

  // the server function stored the choice in the session: a fresh load renders English
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('tagline')).toHaveText('Self-hosted loyalty and super-app integration platform', { timeout: 1000 });
  }).toPass({ timeout: 10_000 });
  await waitForHydration(page);
  await page.getByTestId('lang-switch').click();
  await expect(page.getByTestId('tagline')).toHaveText('Nền tảng tích điểm và tích hợp siêu ứng dụng, tự vận hành');
  expect(consoleErrors).toEqual([]);
});

test('fits a 360 px phone: no sideways scrolling, thumb-sized controls', async ({ page, consoleErrors }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto('/');
  await waitForHydration(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  for (const control of await page.locator('button, .lang-switch').all()) {
    const box = await control.boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(44);
    expect(box!.x + box!.width).toBeLessThanOrEqual(360);
  }
  expect(consoleErrors).toEqual([]);
});

test('unknown pages get the styled 404 page', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response!.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Không tìm thấy trang');
  const color = await page.locator('.error-code').evaluate((el) => getComputedStyle(el).color);
  expect(color).toBe('rgb(11, 92, 255)'); // the stylesheet applied
  await expectAccessible(page, 'not found');
});
