// The staff console in a real headless Chromium (Debian's, driven by playwright-core).
//
// Usage: node console.mjs CONFIG_JSON
// CONFIG_JSON names the server, the accounts and what the register holds (see
// tests/tests/e2e/console.rs). Every scenario runs in its own browser context, in one
// browser. Prints one JSON line: the scenarios that passed. Exits 1 at the first failure,
// saying which scenario and why, with the page's text.

import assert from 'node:assert/strict';
import { config, fresh, run, shot, signIn, text, totp } from './harness.mjs';

const scenarios = {
  async 'a county clerk is told a wrong password, then signs in'() {
    const { context, page } = await fresh();
    await page.goto('/');
    assert.match(page.url(), /\/sign-in$/, 'a stranger is sent to sign in');
    await shot(page, 'sign-in');
    await signIn(page, { ...config.clerk, password: 'not the password' });
    const refusal = page.locator('.field-error');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /用户名或密码错误/);
    assert.match(await refusal.innerText(), /Wrong username or password/);
    await shot(page, 'sign-in-wrong-password');
    await signIn(page, config.clerk);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    const header = await page.locator('header.top').innerText();
    assert.match(header, new RegExp(config.clerk.name));
    assert.match(header, /县级工作人员/);
    assert.match(header, /临县/, 'the area by its name');
    await page.click('a.lang');
    assert.match(await page.locator('header.top').innerText(), /County staff/);
    await page.click('a.lang');
    assert.match(await page.locator('header.top').innerText(), /县级工作人员/);
    await page.goto('/password');
    await shot(page, 'password');

    // Progress, from the county down to the village the household was recorded in.
    const village = config.household.village;
    await page.goto('/progress');
    let body = await text(page);
    assert.match(body, /已登记户数/);
    assert.ok(await page.locator('figure.chart svg').count() === 1, 'a chart of the townships');
    await shot(page, 'progress-county');
    await page.click(`a[href="/progress/${village.slice(0, 9)}"]`);
    await page.waitForURL(new RegExp(`/progress/${village.slice(0, 9)}$`));
    await shot(page, 'progress-township');
    const row = page.locator('tr', { has: page.locator(`a[href="/progress/${village}"]`) });
    assert.match(await row.innerText(), /\t1\t1\t/, 'one household, visited');
    await page.click(`a[href="/progress/${village}"]`);
    await page.waitForURL(new RegExp(`/progress/${village}$`));
    body = await text(page);
    assert.ok(body.includes(`device for ${village}`), `the device that recorded it: ${body}`);
    assert.match(body, /\d{4}-\d\d-\d\d \d\d:\d\d/, 'its last sync, in local time');
    await shot(page, 'progress-village');

    // Another county is not the clerk's: refused, in both languages.
    const refused = await page.goto(`/progress/${config.other_county}`);
    assert.equal(refused.status(), 403);
    body = await text(page);
    assert.match(body, /无权查看区划/);
    assert.match(body, /outside your scope/);
    await shot(page, 'another-county-refused');
    await context.close();
  },

  async 'a county clerk searches the register, pages, reads a field\'s history and reveals an ID number'() {
    const { context, page } = await fresh();
    await signIn(page, config.clerk);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    const { household, register } = config;
    const rowsShown = () => page.locator('table.households tbody tr').count();
    const listed = (id) => page.locator(`table.households tbody tr:has(a[href="/register/${id}"])`).count();
    const submit = () => Promise.all([page.waitForURL(/\/register\?/), page.click('form.search button[type=submit]')]);

    await page.click('nav.pages a[href="/register"]');
    await page.waitForURL(/\/register$/);
    const everyone = register.paging_households + 1;
    assert.match(await page.locator('#total').innerText(), new RegExp(`\\b${everyone}\\b`), 'every household of the county');
    await shot(page, 'register');

    // By name: the one household.
    await page.fill('#search', household.head);
    await submit();
    assert.equal(await rowsShown(), 1);
    assert.equal(await listed(household.id), 1, 'the household');
    // By a whole ID number, through its keyed hash; part of one finds nothing.
    await page.fill('#search', household.id_number);
    await submit();
    assert.equal(await rowsShown(), 1, 'a whole ID number finds its household');
    assert.equal(await listed(household.id), 1, 'the household');
    await page.fill('#search', household.id_number.slice(0, 12));
    await submit();
    assert.equal(await rowsShown(), 0, 'part of an ID number finds nothing');

    // By village, chosen by its name: the recorded household's village holds it alone.
    await page.fill('#search', '');
    const optionText = await page.locator(`#area option[value="${household.village}"]`).innerText();
    assert.match(optionText, /\p{Script=Han}/u, `the village by its name: ${optionText}`);
    await page.selectOption('#area', household.village);
    await submit();
    assert.equal(await rowsShown(), 1);
    assert.equal(await listed(household.id), 1, 'the household');

    // The village of many households, a page at a time.
    await page.selectOption('#area', register.paging_village);
    await submit();
    assert.match(await page.locator('#total').innerText(), new RegExp(`\\b${register.paging_households}\\b`));
    const firstNumbers = await page.locator('table.households tbody tr td:first-child').allInnerTexts();
    assert.equal(firstNumbers.length, 25, 'a full first page');
    await Promise.all([page.waitForURL(/after=/), page.click('a[rel=next]')]);
    const second = await page.locator('table.households tbody tr td:first-child').allInnerTexts();
    assert.equal(second.length, register.paging_households - 25, 'the rest on the second page');
    assert.ok(second.every((n) => !firstNumbers.includes(n)), 'no household twice');
    assert.equal(await page.locator('a[rel=next]').count(), 0, 'the last page');
    await shot(page, 'register-page-two');

    // The household, masked, with its history.
    await page.goto(`/register?search=${encodeURIComponent(household.head)}`);
    await Promise.all([page.waitForURL(new RegExp(`/register/${household.id}$`)), page.click('table.households tbody a >> nth=0')]);
    let body = await text(page);
    assert.ok(!body.includes(household.id_number), 'the ID number is masked');
    assert.ok(body.includes(`${household.id_number.slice(0, 4)}**********${household.id_number.slice(14)}`), body);
    assert.match(body, /在户成员/);
    assert.match(body, /走访/);
    const nameField = page.locator('dd', { hasText: household.head }).first();
    await nameField.locator('details.history summary').click();
    const history = await nameField.locator('details.history tbody tr').first().innerText();
    assert.match(history, /\d{4}-\d\d-\d\d \d\d:\d\d/, `when, in local time: ${history}`);
    const [, who, device] = history.split('\t').map((cell) => cell.trim());
    assert.equal(who, register.recorded_by.volunteer, `who: ${history}`);
    assert.equal(device, register.recorded_by.device, `which device: ${history}`);
    await shot(page, 'household');

    // Revealed, on the clerk's asking (the Rust test reads the audit log).
    await Promise.all([page.waitForURL(new RegExp(`/register/${household.id}/reveal$`)), page.click('#reveal')]);
    body = await text(page);
    assert.ok(body.includes(household.id_number), 'the ID number in full');
    assert.match(body, /审计日志/);
    await shot(page, 'household-revealed');
    await context.close();
  },

  async 'an admin signs in with the code from the authenticator'() {
    const { context, page } = await fresh();
    await signIn(page, config.admin);
    const refusal = page.locator('.field-error');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /动态码/);
    assert.match(await refusal.innerText(), /authenticator/);
    await signIn(page, config.admin, { code: totp(config.admin.totp_secret) });
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    assert.match(await page.locator('header.top').innerText(), /县级管理员/);
    await context.close();
  },

  async 'a form posted from another site is refused'() {
    const { context, page } = await fresh();
    await signIn(page, config.clerk);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    const evil = 'http://evil.example/';
    await context.route(evil, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<form method="post" action="${config.url}/sign-out"><input name="_form_token" value="guess"><button>go</button></form>`,
      }),
    );
    await page.goto(evil);
    const [response] = await Promise.all([page.waitForEvent('response', (r) => r.url().startsWith(config.url)), page.click('button')]);
    assert.equal(response.status(), 403);
    const body = await text(page);
    assert.match(body, /已拒绝/);
    assert.match(body, /Refused/);
    await shot(page, 'cross-site-refused');
    await page.goto(`${config.url}/password`);
    assert.match(page.url(), /\/password$/, 'the session is still open');
    await context.close();
  },

  async 'signing out ends the session'() {
    const { context, page } = await fresh();
    await signIn(page, config.clerk);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    await page.click('header.top button.link');
    await page.waitForURL(/\/sign-in\?signed_out=1$/);
    assert.match(await page.locator('.notice').innerText(), /您已退出/);
    await page.goto('/password');
    assert.match(page.url(), /\/sign-in$/, 'signed out is signed out');
    await context.close();
  },

  async 'an expired session sends back to sign-in with a message'() {
    const { context, page } = await fresh(config.expiring.url);
    await signIn(page, config.expiring);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    await page.waitForTimeout(config.expiring.lifetime_secs * 1000 + 1200);
    await page.goto('/password');
    await page.waitForURL(/\/sign-in\?expired=1$/);
    const notice = await page.locator('.notice').innerText();
    assert.match(notice, /登录已过期/);
    assert.match(notice, /expired/);
    await shot(page, 'sign-in-expired');
    await context.close();
  },
};

await run(scenarios);
