import { test, expect, provider, demo, freshPhone, codeFor, signIn, expectAccessible, noScriptContext } from './fixtures';
import { APIRequestContext, Page } from '@playwright/test';

/** Signs a new member in at the demo shop (regular web app), earns 25 SkyPoints there, and
 *  returns the member's SkyJoy ID. */
async function memberWith25Points(page: Page, request: APIRequestContext, phone = freshPhone()): Promise<string> {
  await page.goto(`${demo()}/`);
  await page.getByTestId('demo-login').click();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
  await signIn(page, request, phone, 'Le Thi Diem');
  await expect(page).toHaveURL(`${demo()}/`);
  await page.getByTestId('demo-buy-form').locator('input[name=amount]').fill('250000');
  await page.getByTestId('demo-buy-form').locator('button').click();
  await expect(page.getByTestId('demo-balance')).toHaveText('25');
  await expectAccessible(page, 'demo shop: earned');
  await page.goto(`${demo()}/`);
  return (await page.getByTestId('demo-skyjoy-id').textContent())!;
}

async function payWithPoints(page: Page, points: number) {
  const form = page.getByTestId('demo-redeem-form');
  await form.locator('input[name=points]').fill(String(points));
  await form.locator('button').click();
}

const atRedeem = () => new RegExp(`^${provider()}/account/redeem\\?`);

test('a member confirms a redemption at SkyJoy and the shop spends the points with the sign', async ({ page, request, consoleErrors }) => {
  const skyjoyId = await memberWith25Points(page, request);
  await payWithPoints(page, 10);
  await expect(page).toHaveURL(atRedeem());
  // signed in at SkyJoy already (single sign-on): the confirmation shows at once, in English
  await expect(page.getByTestId('redeem-partner')).toHaveText('Demo Shop');
  await expect(page.getByTestId('redeem-points')).toHaveText('10 SkyPoint');
  await expect(page.getByTestId('redeem-available')).toHaveText('25 SkyPoint');
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await expectAccessible(page, 'redeem: confirm');
  await page.getByTestId('redeem-confirm').click();
  await expect(page).toHaveURL(new RegExp(`^${demo()}/redeem/callback\\?`));
  await expect(page.getByTestId('demo-redeemed')).toContainText('Paid 10 SkyPoints');
  await expect(page.getByTestId('demo-balance')).toHaveText('15');
  await expectAccessible(page, 'demo shop: paid with points');

  // cancelling sends the member back without a sign
  await page.goto(`${demo()}/`);
  await payWithPoints(page, 5);
  await page.getByTestId('redeem-cancel').click();
  await expect(page.getByTestId('demo-redeem-cancelled')).toContainText('access_denied');
  await expectAccessible(page, 'demo shop: not paid');

  // more than is available: nothing to confirm
  await page.goto(`${demo()}/`);
  await payWithPoints(page, 1000);
  await expect(page.getByTestId('redeem-insufficient')).toBeVisible();
  await expect(page.getByTestId('redeem-confirm')).toBeDisabled();
  await expectAccessible(page, 'redeem: insufficient');

  // the member's own page: balance and history, newest first; then in Vietnamese
  await page.goto(`${provider()}/account?lang=en`);
  await expect(page.getByTestId('available')).toHaveText('15 SkyPoint');
  await expect(page.getByTestId('history-line')).toHaveCount(2);
  await expect(page.getByTestId('history-line').first()).toHaveAttribute('data-kind', 'REDEMPTION');
  await expect(page.getByTestId('history-line').first()).toContainText('Spent');
  await expectAccessible(page, 'account');
  await page.getByTestId('lang-switch').click();
  await expect(page.getByTestId('history-line').first()).toContainText('Dùng điểm');

  // the shop received signed webhooks for the sign-up and both balance changes
  await expect(async () => {
    await page.goto(`${demo()}/events`);
    const mine = page.locator(`[data-testid=demo-event][data-member="${skyjoyId}"]`);
    await expect(mine.and(page.locator('[data-type="user.updated-balance"]'))).toHaveCount(2, { timeout: 500 });
    await expect(mine.and(page.locator('[data-type="user.created"]'))).toHaveCount(1, { timeout: 500 });
  }).toPass({ timeout: 10_000 });
  await expectAccessible(page, 'demo shop: webhooks');
});

test('without scripts: a signed-out member signs in at SkyJoy, comes back to the confirmation, and confirms', async ({ browser, request }) => {
  const context = await noScriptContext(browser);
  const page = await context.newPage();
  const phone = freshPhone();
  await memberWith25Points(page, request, phone);
  await context.clearCookies({ domain: '127.0.0.1' }); // signed out at SkyJoy, still at the shop
  await payWithPoints(page, 7);
  await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
  // a known member: phone and code, then straight back (no profile step)
  await page.locator('#phone').fill(phone);
  await page.getByTestId('phone-form').locator('button[type=submit]').click();
  await page.locator('#code').fill(await codeFor(request, phone));
  await page.getByTestId('code-form').locator('button[type=submit]').click();
  await expect(page).toHaveURL(atRedeem());
  await expect(page.getByTestId('redeem-points')).toHaveText('7 SkyPoint');
  await page.getByTestId('redeem-confirm').click(); // a plain form post; the answer redirects to the shop
  await expect(page.getByTestId('demo-redeemed')).toContainText('Paid 7 SkyPoints');
  await expect(page.getByTestId('demo-balance')).toHaveText('18');
  await context.close();
});

test('a redemption request for an unregistered return address is refused without redirecting', async ({ page, request }) => {
  await memberWith25Points(page, request);
  await page.goto(`${provider()}/account/redeem?client_id=demo-partner&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&transactionId=T1&transactionAmount=1&transactionDate=1700000000000&usedPoint=1&lang=en`);
  await expect(page.getByTestId('redeem-problem')).toHaveAttribute('data-code', 'unknown_partner');
  await expect(page.getByTestId('redeem-problem').getByRole('link')).toHaveCount(0);
  await expectAccessible(page, 'redeem: refused request');
});
