import { test, expect, expectAccessible } from './fixtures';
import { Page, APIRequestContext } from '@playwright/test';

// Benefits in super apps: the operator page, the sandbox super-app platform (three ports above
// the platform: its console and its user page) and the partner's cashier page.
const provider = () => test.info().project.use.baseURL as string;
const platform = () => `http://localhost:${Number(process.env.E2E_PORT ?? 3107) + 4}`;
const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 10).toUpperCase()}`;

async function knobs(request: APIRequestContext, change: object) {
  const res = await request.post(`${platform()}/sandbox/knobs`, { data: change });
  expect(res.ok()).toBeTruthy();
}

test.afterEach(async ({ request }) => {
  await knobs(request, { review: 'PASS' });
});

async function operator(page: Page) {
  await page.goto(`${provider()}/ops/benefits`);
  const signIn = page.getByTestId('ops-sign-in');
  if (await signIn.isVisible()) {
    await signIn.locator('#token').fill('e2e-operator-token');
    await signIn.locator('button').click();
    await expect(page).toHaveURL(`${provider()}/ops/benefits`);
  }
  await expect(page.getByTestId('ops-template-form')).toBeVisible();
  await expectAccessible(page, 'ops benefits');
}

/** Creates a template on the operator page and syncs it; returns its row. */
async function createAndSync(page: Page, id: string, title: string) {
  const form = page.getByTestId('ops-template-form');
  await form.locator('#template_id').fill(id);
  await form.locator('#title').fill(title);
  await form.locator('#content').fill('50.000 ₫ off any order at the Sandbox Shop.');
  await form.locator('#budget').fill('5');
  await form.getByTestId('ops-create').click();
  const row = page.locator(`[data-testid=ops-template][data-template="${id}"]`);
  await expect(row).toHaveAttribute('data-sync', 'NOT_SYNCED');
  await expect(row.getByTestId('ops-budget')).toHaveText('0 used · 5 left of 5');
  await row.getByTestId('ops-sync').click();
  return row;
}

test('an operator syncs a voucher, the super app releases it, a user collects it and the cashier uses it', async ({ page, request, consoleErrors }) => {
  const id = unique('E2E');
  const user = unique('U').slice(0, 12);
  await operator(page);
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  const row = await createAndSync(page, id, 'Giảm 50.000 ₫ tại Sandbox Shop');
  // the page follows the sync by itself: PENDING → PROCESSING → SUCCESS (the platform's notify)
  await expect(row.getByTestId('ops-sync-status')).toHaveAttribute('data-status', 'SUCCESS', { timeout: 15_000 });
  await expectAccessible(page, 'ops benefits: synced');

  // the super app's operator releases it on the platform's console
  await page.goto(`${platform()}/`);
  const synced = page.locator(`[data-testid=platform-benefit][data-template="${id}"]`);
  await expect(synced).toHaveAttribute('data-status', 'SUCCESS');
  await synced.getByTestId('release').click();
  await expect(synced).toContainText('released');
  await expectAccessible(page, 'super-app console');

  // a user collects it in the super app
  await page.goto(`${platform()}/app?user=${user}`);
  const offer = page.locator(`[data-testid=offer][data-template="${id}"]`);
  await expect(offer).toContainText('Giảm 50.000 ₫ tại Sandbox Shop');
  await offer.getByTestId('collect').click();
  const voucher = page.getByTestId('voucher').first();
  await expect(voucher).toHaveAttribute('data-status', 'ACTIVATED');
  await expectAccessible(page, 'super app: a voucher');
  const code = (await voucher.getByTestId('voucher-code').innerText()).trim();
  expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{12}$/);

  // the shop's cashier (English) checks the code, typed in groups and lower case, and uses it
  const creds = await (await request.get(`${provider()}/sandbox/cashier`)).json();
  await page.goto(`${provider()}/cashier?lang=en`);
  await expect(page.locator('#client_id')).toBeVisible();
  await expectAccessible(page, 'cashier: sign-in');
  await page.locator('#client_id').fill(creds.client_id);
  await page.locator('#client_secret').fill(creds.client_secret);
  await page.getByTestId('cashier-sign-in-button').click();
  await expect(page.getByTestId('cashier-code-form')).toBeVisible();
  await page.locator('#code').fill('ZZZZ-ZZZZ-ZZZZ');
  await page.getByTestId('cashier-check').click();
  await expect(page.getByTestId('cashier-problem')).toContainText('No voucher of your shop has this code');
  await expectAccessible(page, 'cashier: no such voucher');
  await page.locator('#code').fill(`${code.slice(0, 4).toLowerCase()} ${code.slice(4, 8)}-${code.slice(8)}`);
  await page.getByTestId('cashier-check').click();
  const card = page.getByTestId('cashier-voucher');
  await expect(card).toHaveAttribute('data-status', 'ACTIVATED');
  await expect(page.getByTestId('cashier-value')).toHaveText('50.000 ₫');
  await expect(page.getByTestId('cashier-status')).toHaveText('Valid');
  await expectAccessible(page, 'cashier: a valid voucher');
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await page.getByTestId('cashier-confirm').click();
  await expect(card).toHaveAttribute('data-status', 'USED');
  await expect(page.getByTestId('cashier-status')).toHaveText('Used');
  await expect(page.getByTestId('cashier-used')).toBeVisible();
  await expect(page.getByTestId('cashier-confirm')).toHaveCount(0);
  await expectAccessible(page, 'cashier: used');

  // the platform deactivated it (syncUsedBenefit)
  await page.goto(`${platform()}/app?user=${user}`);
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('voucher').first()).toHaveAttribute('data-status', 'USED', { timeout: 500 });
  }).toPass({ timeout: 15_000 });

  // and the operator sees the budget and the benefit
  await page.goto(`${provider()}/ops/benefits?template=${id}`);
  await expect(row.getByTestId('ops-budget')).toHaveText('1 used · 4 left of 5');
  await expect(page.getByTestId('ops-instance')).toHaveAttribute('data-status', 'USED');
  await expectAccessible(page, 'ops benefits: a template');
});

test('a voucher used at one till is refused at another, in Vietnamese', async ({ page, browser, request }) => {
  const id = unique('E2E');
  await operator(page);
  const row = await createAndSync(page, id, 'Giảm 20.000 ₫');
  await expect(async () => {
    await page.reload();
    await expect(row.getByTestId('ops-sync-status')).toHaveAttribute('data-status', 'SUCCESS', { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  expect((await request.post(`${platform()}/sandbox/release`, { data: { benefitTemplateId: id } })).ok()).toBeTruthy();
  const collected = await (await request.post(`${platform()}/sandbox/collect`, { data: { userId: 'U-TWO-TILLS', benefitTemplateId: id } })).json();
  const code = collected.vouchers[0].benefitCode;

  const creds = await (await request.get(`${provider()}/sandbox/cashier`)).json();
  const till = async () => {
    const context = await browser.newContext({ ...test.info().project.use, locale: 'vi-VN' });
    const p = await context.newPage();
    await p.goto(`${provider()}/cashier`);
    await p.waitForFunction(() => document.body.dataset.hydrated === '1');
    await p.locator('#client_id').fill(creds.client_id);
    await p.locator('#client_secret').fill('not the secret');
    await p.getByTestId('cashier-sign-in-button').click();
    await expect(p.getByTestId('error')).toHaveText('Không được phép.');
    await expectAccessible(p, 'cashier: refused');
    await p.locator('#client_secret').fill(creds.client_secret);
    await p.getByTestId('cashier-sign-in-button').click();
    await expect(p.getByTestId('cashier-code-form')).toBeVisible();
    await p.goto(`${provider()}/cashier?code=${code}`);
    await expect(p.getByTestId('cashier-voucher')).toHaveAttribute('data-status', 'ACTIVATED');
    await p.waitForFunction(() => document.body.dataset.hydrated === '1');
    return p;
  };
  const [one, two] = [await till(), await till()];
  await one.getByTestId('cashier-confirm').click();
  await expect(one.getByTestId('cashier-status')).toHaveText('Đã sử dụng');
  await two.getByTestId('cashier-confirm').click();
  await expect(two.getByTestId('cashier-problem')).toContainText('Ưu đãi này đã được sử dụng.');
  await expectAccessible(two, 'cashier: already used');
});

test('an audit failure is shown to the operator with the platform\'s code and reason', async ({ page, request }) => {
  await knobs(request, { review: 'AUDIT_FAIL' });
  const id = unique('E2E');
  await operator(page);
  const row = await createAndSync(page, id, 'Giảm 90% mọi thứ');
  await expect(async () => {
    await page.reload();
    await expect(row.getByTestId('ops-sync-status')).toHaveAttribute('data-status', 'FAIL', { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(row.getByTestId('ops-fail-code')).toHaveText('AUDIT_FAIL');
  await expect(row.getByTestId('ops-fail-reason')).toContainText('failed the review');
  await expectAccessible(page, 'ops benefits: sync failed');
  // a failed sync may be sent again (after the platform's rules are met)
  await expect(row.getByTestId('ops-sync')).toBeVisible();
});
