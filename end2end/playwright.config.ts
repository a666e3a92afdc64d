import { defineConfig, devices } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';

// The server under test: the binary `make test` just built, on its own port and database.
const port = Number(process.env.E2E_PORT ?? 3107);
const bin = process.env.E2E_JOYGATE_BIN ?? path.resolve(__dirname, '../target/debug/joygate');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'joygate-e2e-'));

// Debian's Chromium (never a downloaded browser), as in ../../shared/toolchain.md.
const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'off',
    locale: 'vi-VN', // members' phones; English is tested through the switch and Accept-Language
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: chromiumArgs },
  },
  projects: [
    { name: 'phone', use: { ...devices['Pixel 7'], viewport: { width: 360, height: 740 }, browserName: 'chromium' } },
    { name: 'desktop', use: { ...devices['Desktop Chrome'], browserName: 'chromium' } },
  ],
  webServer: {
    command: `${bin} serve`,
    cwd: path.resolve(__dirname, '..'),
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    env: {
      JOYGATE_LISTEN: `127.0.0.1:${port}`,
      JOYGATE_DATABASE_URL: `sqlite://${dataDir}/joygate.db`,
      JOYGATE_SITE_ROOT: path.resolve(__dirname, '../target/site'),
      // the demo partner on another site (localhost vs 127.0.0.1), next port up
      JOYGATE_DEMO_PARTNER__LISTEN: `127.0.0.1:${port + 1}`,
      // the sandbox payment partner (Tiki VIP), two ports up; quick IPN retries
      JOYGATE_PAYMENT_PARTNER__LISTEN: `127.0.0.1:${port + 2}`,
      // the sandbox membership app (reward tasks), three ports up
      JOYGATE_MEMBERSHIP_APP__LISTEN: `127.0.0.1:${port + 3}`,
      // the sandbox super-app platform (benefits), four ports up; a quick review
      JOYGATE_SUPERAPP_PLATFORM__LISTEN: `127.0.0.1:${port + 4}`,
      JOYGATE_SUPERAPP_PLATFORM__REVIEW_MS: '300',
      // the operator pages' token is "e2e-operator-token"
      JOYGATE_OPERATOR__TOKEN_SHA256: '08ea654c8da1c3cb5bb94613b66032a29dcd7a4b85d4d1d31a9f38c07b4b05d6',
      // every test signs in from 127.0.0.1: lift the per-address code limit (tested in Rust)
      JOYGATE_IDENTITY__OTP_PER_IP_PER_HOUR: '10000',
      JOYGATE_IDENTITY__OTP_RESEND_AFTER_S: '0', // the linking test signs one phone in three times
    },
  },
});
