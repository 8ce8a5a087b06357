// What every browser script of the console shares (tests/browser/*.mjs): its configuration
// (the first argument, JSON), one headless Chromium, screenshots at both sizes, a fresh
// context per scenario, signing in, and running the scenarios.
//
// A script imports these, defines its scenarios and calls `run(scenarios)`, which prints one
// JSON line: the scenarios that passed, and whatever they `report`ed for the Rust test to
// read (e.g. an enrollment code taken from a page). It exits 1 at the first failure, saying
// which scenario and why.

import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const config = JSON.parse(process.argv[2]);
export const SIZES = { desktop: { width: 1366, height: 768 }, phone: { width: 390, height: 844 } };

export const browser = await chromium.launch({
  executablePath: config.chromium ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

/// An RFC 6238 code (SHA-1, 6 digits, 30 s) from a base32 secret: the admin's authenticator.
export function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/// Screenshots of the page at both sizes, when the test asked for them.
export async function shot(page, name) {
  if (!config.screenshots) return;
  mkdirSync(config.screenshots, { recursive: true });
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(config.screenshots, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(SIZES.desktop);
}

export async function fresh(url = config.url) {
  const context = await browser.newContext({ viewport: SIZES.desktop, baseURL: url });
  return { context, page: await context.newPage() };
}

export async function signIn(page, account, { code } = {}) {
  await page.goto('/sign-in');
  await page.fill('#username', account.username);
  await page.fill('#password', account.password);
  if (code) await page.fill('#totp', code);
  await page.click('form.form button[type=submit]');
}

export async function text(page) {
  return page.locator('body').innerText();
}

/// What scenarios hand back to the Rust test, printed with the names of those that passed.
export const reported = {};

export function report(key, value) {
  reported[key] = value;
}

/// Runs `scenarios` in order (those `config.only` names, when it names some), in the one
/// browser; prints what passed and what was reported.
export async function run(scenarios) {
  const passed = [];
  const only = config.only ? new Set(config.only) : null;
  try {
    for (const [name, scenario] of Object.entries(scenarios)) {
      if (only && !only.has(name)) continue;
      try {
        await scenario();
      } catch (err) {
        console.error(`scenario failed: ${name}\n${err.stack ?? err}`);
        process.exitCode = 1;
        break;
      }
      passed.push(name);
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ passed, reported }));
}
