import { test, expect, expectAccessible, noScriptContext } from './fixtures';
import { Page } from '@playwright/test';

// The sandbox payment partner (a super app's wallet) runs two ports above the platform.
const provider = () => test.info().project.use.baseURL as string;
const wallet = () => `http://localhost:${Number(process.env.E2E_PORT ?? 3107) + 2}`;

/** The wallet opens Tiki VIP for a new customer of its own (signed webview API call). */
async function openVip(page: Page, lang = 'en'): Promise<string> {
  const code = 'E2E-' + Math.random().toString(36).slice(2, 10);
  await page.goto(`${wallet()}/`);
  await expectAccessible(page, 'wallet');
  const form = page.getByTestId('open-vip-form');
  await form.locator('input[name=identify_code]').fill(code);
  await form.locator('select[name=lang]').selectOption(lang);
  await form.locator('button').click();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/apps/vn\\.tiki\\.vip`));
  await expect(page.getByTestId('vip-plan')).toHaveCount(3);
  await expectAccessible(page, `vip: plans (${lang})`);
  return code;
}

async function buy(page: Page, plan: string) {
  await page.locator(`[data-testid=vip-plan][data-plan=${plan}]`).getByTestId('vip-buy').click();
  await expect(page).toHaveURL(new RegExp(`^${wallet()}/pay/`));
  await expectAccessible(page, 'wallet: payment screen');
}

async function result(page: Page, status: string | RegExp) {
  await expect(page).toHaveURL(new RegExp(`^${provider()}/apps/vn\\.tiki\\.vip/callback/index\\?`));
  await expect(page.getByTestId('vip-result')).toHaveAttribute('data-status', status, { timeout: 15_000 });
  await expectAccessible(page, `vip: result ${status}`);
}

test('a customer buys VIP in the webview, pays in the wallet and comes back VIP', async ({ page, consoleErrors }) => {
  await openVip(page);
  await expect(page.getByTestId('vip-inactive')).toBeVisible();
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await buy(page, 'VIP1M');
  await expect(page.getByTestId('pay-amount')).toHaveText('99.000 ₫');
  await page.getByTestId('pay-success').click();
  await result(page, 'SUCCESS');
  await expect(page.getByTestId('vip-active')).toBeVisible();
  await page.getByTestId('vip-back').click();
  await expect(page.getByTestId('vip-active')).toBeVisible();
  await expectAccessible(page, 'vip: plans, a VIP');
});

test('a failed or cancelled payment grants nothing and the customer may try again', async ({ page }) => {
  await openVip(page);
  await buy(page, 'VIP3M');
  await expect(page.getByTestId('pay-amount')).toHaveText('269.000 ₫');
  await page.getByTestId('pay-fail').click();
  await result(page, 'FAILURE');
  await expect(page.getByTestId('vip-active')).toHaveCount(0);

  await page.getByTestId('vip-back').click();
  await buy(page, 'VIP3M'); // a new payment: the failed one is closed
  await page.getByTestId('pay-cancel').click();
  // the wallet's IPN says FAILURE; had the result page asked the wallet first, it says CANCELLED
  await result(page, /^(FAILURE|CANCELLED)$/);
  await expect(page.getByTestId('vip-active')).toHaveCount(0);
});

test('a lost IPN: the result page finds the payment at the wallet, also after a reload', async ({ page }) => {
  await openVip(page, 'vi');
  await buy(page, 'VIP1M');
  await page.getByTestId('pay-drop-ipn').click();
  await result(page, 'SUCCESS');
  await page.reload();
  await expect(page.getByTestId('vip-result')).toHaveAttribute('data-status', 'SUCCESS');
  await expect(page.getByTestId('vip-active')).toContainText('Bạn là VIP đến hết ngày');
});

test('without scripts, a double tap and the back button never make a second payment', async ({ browser }) => {
  const context = await noScriptContext(browser);
  const page = await context.newPage();
  const code = await openVip(page);
  await buy(page, 'VIP12M');
  const first = page.url();
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/apps/vn\\.tiki\\.vip`));
  await buy(page, 'VIP12M');
  expect(page.url()).toBe(first);
  await page.goto(`${wallet()}/`);
  await expect(page.locator('tr', { hasText: code })).toHaveCount(1);
  await context.close();
});

test('a stale or reused webview link opens nothing', async ({ page }) => {
  await page.goto(`${provider()}/apps/vn.tiki.vip/open?t=not-a-link`);
  await expect(page.locator('body')).toContainText('expired or was already used');
  await expectAccessible(page, 'vip: stale link');
  await page.goto(`${provider()}/apps/vn.tiki.vip`);
  await expect(page.getByTestId('vip-not-opened')).toBeVisible();
  await expectAccessible(page, 'vip: not opened');
});

test('an operator refunds a payment in two parts; the full refund takes the VIP back', async ({ page }) => {
  await openVip(page);
  await buy(page, 'VIP1M');
  await page.getByTestId('pay-success').click();
  await result(page, 'SUCCESS');
  const tikiId = new URL(page.url()).searchParams.get('tiki_transaction_id')!;

  await page.goto(`${provider()}/ops/tikivip?tiki_transaction_id=${tikiId}`);
  await page.locator('#token').fill('wrong');
  await page.getByTestId('ops-sign-in').locator('button').click();
  await expect(page.getByRole('alert')).toHaveText('Refused.');
  await expectAccessible(page, 'ops: sign-in refused');
  await page.locator('#token').fill('e2e-operator-token');
  await page.getByTestId('ops-sign-in').locator('button').click();
  await expect(page.getByTestId('ops-sign-in')).toHaveCount(0); // signed in before navigating away
  await page.goto(`${provider()}/ops/tikivip?tiki_transaction_id=${tikiId}`);
  await expect(page.getByTestId('ops-payment')).toHaveAttribute('data-status', 'SUCCESS');
  await expectAccessible(page, 'ops: payment');

  const refund = async (amount: string) => {
    const form = page.getByTestId('ops-refund-form');
    await form.locator('#amount').fill(amount);
    await form.locator('#reason').fill('customer asked');
    await form.locator('button').click();
  };
  await refund('100000');
  await expect(page.getByTestId('ops-error')).toContainText('more than what was paid');
  await expectAccessible(page, 'ops: refund refused');
  await refund('40000');
  // sent to the wallet by the outbox: reload until it is settled
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('ops-refunded')).toHaveText('40.000 ₫', { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId('ops-vip')).not.toHaveText('—');
  await refund('59000');
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('ops-refunded')).toHaveText('99.000 ₫', { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId('ops-vip')).toHaveText('—');
  await expect(page.getByTestId('ops-refund-form')).toHaveCount(0);
});

test('the result page shows a pending payment, survives a reload, and turns to success by itself', async ({ page, context }) => {
  const code = await openVip(page);
  await buy(page, 'VIP1M'); // the customer is on the wallet's payment screen, not decided yet
  const watcher = await context.newPage();
  await watcher.goto(`${wallet()}/`);
  const tikiId = (await watcher.locator('tr', { hasText: code }).locator('td').first().innerText()).trim();
  await watcher.goto(`${provider()}/apps/vn.tiki.vip/callback/index?tiki_transaction_id=${tikiId}&status=SUCCESS`);
  // the query's status is not believed: the payment is still pending at the wallet
  await expect(watcher.getByTestId('vip-result')).toHaveAttribute('data-status', 'PENDING');
  await expect(watcher.getByTestId('vip-pending')).toBeVisible();
  await expectAccessible(watcher, 'vip: result pending');
  await watcher.reload();
  await expect(watcher.getByTestId('vip-result')).toHaveAttribute('data-status', 'PENDING');
  await watcher.waitForFunction(() => document.body.dataset.hydrated === '1');

  await page.getByTestId('pay-success').click();
  await result(page, 'SUCCESS');
  // the waiting page polls and updates without a reload
  await expect(watcher.getByTestId('vip-result')).toHaveAttribute('data-status', 'SUCCESS', { timeout: 15_000 });
  await expect(watcher.getByTestId('vip-active')).toBeVisible();
});
