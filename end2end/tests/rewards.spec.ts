import { test, expect, freshPhone, codeFor, expectAccessible } from './fixtures';
import { Page } from '@playwright/test';

// The sandbox membership app (a client of the loyalty reward tasks) runs three ports above the
// platform, on another site (localhost).
const provider = () => test.info().project.use.baseURL as string;
const members = () => `http://localhost:${Number(process.env.E2E_PORT ?? 3107) + 3}`;

/** Waits (the page refreshes itself while a ticket is pending) until the newest ticket of
 *  `action` is settled, and checks how it ended. */
async function settled(page: Page, action: string, status = 'success') {
  await expect(page.locator(`[data-testid=ticket][data-action=${action}]`).first()).toHaveAttribute('data-status', status, { timeout: 20_000 });
}

async function register(page: Page, phone: string, name: string, referral = '') {
  await page.goto(`${members()}/`);
  await expectAccessible(page, 'membership app');
  const form = page.getByTestId('register-form');
  await form.locator('#phone').fill(phone);
  await form.locator('#name').fill(name);
  await form.locator('#referral').fill(referral);
  await form.locator('button').click();
  await expect(page.getByTestId('member')).toBeVisible();
  await settled(page, 'register');
  await expectAccessible(page, 'membership app: a member');
}

test('a referred member registers, buys, checks in and draws; the SkyPoint balance matches their SkyJoy account', async ({ page, request, consoleErrors }) => {
  // the referrer
  await register(page, freshPhone(), 'Le Van Gioi');
  const code = (await page.getByTestId('referral-code').textContent())!;
  await page.getByTestId('signout').click();

  // the new member, with the referral code
  const phone = freshPhone();
  await register(page, phone, 'Tran Thi Moi', code);
  await settled(page, 'registerreferral');
  await expect(page.getByTestId('balance')).toHaveText('100'); // welcome 50 + referred 50

  await page.getByTestId('buy-form').locator('#amount').fill('150000');
  await page.getByTestId('buy-form').locator('button').click();
  await settled(page, 'transaction');
  await settled(page, 'transactionreferral');
  await expect(page.locator('[data-testid=ticket][data-action=transaction]').getByTestId('ticket-detail')).toHaveText('+15 SkyPoint');

  await page.getByTestId('checkin').click();
  await settled(page, 'dailycheckin');
  await expect(page.locator('[data-testid=ticket][data-action=dailycheckin]').getByTestId('ticket-detail')).toContainText('day 1 of the streak');
  // a second check-in the same day is the same ticket: still one
  await page.getByTestId('checkin').click();
  await settled(page, 'dailycheckin');
  const checkins = page.locator('[data-testid=ticket][data-action=dailycheckin]');
  await expect(checkins.nth(0).locator('.muted')).toHaveText(await checkins.nth(1).locator('.muted').textContent() ?? '');

  await page.getByTestId('draw').click();
  await settled(page, 'luckydraw');
  const prize = Number(await page.locator('[data-testid=ticket][data-action=luckydraw]').getAttribute('data-points'));
  const expected = 50 + 50 + 15 + 5 + prize;
  await expect(page.getByTestId('balance')).toHaveText(String(expected));
  await expectAccessible(page, 'membership app: rewards');

  // the member's own SkyJoy account: sign in with the same phone, same balance, rewards in the history
  await page.goto(`${provider()}/account?lang=en`);
  await expect(page).toHaveURL(new RegExp(`^${provider()}/signin/`));
  // the reward task onboarded them with this phone: a known member, so phone and code only
  await page.locator('#phone').fill(phone);
  await page.getByTestId('phone-form').locator('button[type=submit]').click();
  await page.locator('#code').fill(await codeFor(request, phone));
  await page.getByTestId('code-form').locator('button[type=submit]').click();
  await expect(page).toHaveURL(new RegExp(`^${provider()}/account`));
  await expect(page.getByTestId('available')).toHaveText(`${expected} SkyPoint`);
  await expect(page.locator('[data-testid=history-line][data-kind=REWARD]')).toHaveCount(prize > 0 ? 5 : 4);
  await expect(page.locator('[data-testid=history-line][data-kind=REWARD]').first()).toContainText('Reward');
  await expectAccessible(page, 'account: rewards');
});

// (a refused sign-in answers 403, which the browser logs: no console check in this one)
test('the operator page refuses a wrong operator token', async ({ page }) => {
  await page.goto(`${provider()}/ops/rewards`);
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await page.locator('#token').fill('wrong');
  await page.getByTestId('ops-sign-in').locator('button').click();
  await expect(page.getByTestId('error')).toHaveAttribute('data-error', 'refused');
  await expectAccessible(page, 'ops rewards: sign-in refused');
  await expect(page.getByTestId('ops-count')).toHaveCount(0);
});

test('an operator sees the tickets by status and action, a ticket\'s envelope and result, and the rules in force', async ({ page, consoleErrors }) => {
  await register(page, freshPhone(), 'Pham Van Ops');
  const ticket = (await page.locator('[data-testid=ticket][data-action=register] .muted').textContent())!.replace('Ticket ', '').trim();

  await page.goto(`${provider()}/ops/rewards`);
  await page.waitForFunction(() => document.body.dataset.hydrated === '1');
  await page.locator('#token').fill('e2e-operator-token');
  await page.getByTestId('ops-sign-in').locator('button').click();
  await expect(page.locator('[data-testid=ops-count][data-state=success][data-action=register]')).toBeVisible();
  await expectAccessible(page, 'ops rewards: counts');

  await page.goto(`${provider()}/ops/rewards?state=success&action=register`);
  await expect(page.locator(`[data-testid=ops-ticket-line][data-ticket="${ticket}"]`)).toBeVisible();
  await expect(page.locator('[data-testid=ops-ticket-line]:not([data-action=register])')).toHaveCount(0);
  await expectAccessible(page, 'ops rewards: tickets');
  await page.locator(`[data-testid=ops-ticket-line][data-ticket="${ticket}"] a`).click();
  await expect(page).toHaveURL(`${provider()}/ops/rewards?ticket=${ticket}`);
  await expect(page.getByTestId('ops-ticket')).toHaveAttribute('data-state', 'success');
  await expect(page.getByTestId('ops-ticket-envelope')).toContainText('"SubjectIdentifier": "task"');
  await expect(page.getByTestId('ops-ticket-envelope')).toContainText('"signature"');
  await expect(page.getByTestId('ops-ticket-result')).toContainText('"bitReference"');
  await expect(page.getByTestId('ops-replay')).toHaveCount(0); // paid: nothing to replay
  await expect(page.locator('[data-testid=ops-client][data-client=sandbox-membership]')).toContainText('50 points once per member');
  await expectAccessible(page, 'ops rewards: a ticket');
});
