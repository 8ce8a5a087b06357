// The console's work pages in a real headless Chromium: the review queue, the quarantine,
// devices and enrollment sheets, accounts and the audit log.
//
// Usage: node work.mjs CONFIG_JSON (see tests/tests/e2e/console_work.rs). `config.only`
// names the scenarios to run; the enrollment scenario reports the code and the QR's text
// it read from the printable sheet.

import assert from 'node:assert/strict';
import { config, fresh, report, run, shot, signIn, text, totp } from './harness.mjs';

async function signedIn(account, options) {
  const { context, page } = await fresh();
  await signIn(page, account, options);
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  return { context, page };
}

/// Submits the form `selector` and waits for the page it answers with.
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(`${selector} button[type=submit]`)]);
}

/// The error shown beside a field of the form: in both languages.
async function assertFieldError(page, selector, zh, en) {
  const error = page.locator(`${selector} .field-error`).first();
  await error.waitFor();
  const said = await error.innerText();
  assert.match(said, zh);
  assert.match(said, en);
}

async function notice(page) {
  return page.locator('.notice').first().innerText();
}

/// Today's date in the county, as the audit filter takes it.
function todayInShanghai() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
}

const scenarios = {
  async "a county clerk's morning"() {
    const { context, page } = await signedIn(config.clerk);
    await page.goto('/review');
    await shot(page, 'review-queue');
    // Another county's village is refused, in both languages, and audited.
    const refused = await page.goto(`/review?village=${config.other_county_village}`);
    assert.equal(refused.status(), 403);
    assert.match(await text(page), /无权查看区划/);
    assert.match(await text(page), /outside your scope/);
    await page.goto('/review');
    // The village with open items, by its name and code: its items only.
    const village = page.locator('table.village-counts a', { hasText: config.village });
    await Promise.all([page.waitForURL(/village=/), village.click()]);
    assert.match(await page.locator('table.village-counts tr.current').innerText(), new RegExp(config.village));
    await page.selectOption('#kind', 'conflict');
    await submit(page, 'form.search');
    await Promise.all([page.waitForURL(/\/review\/[^/?]+\?/), page.locator('table.review-items a').first().click()]);

    // The conflict: each value with its volunteer, device and time; the field's history.
    let body = await text(page);
    for (const value of config.conflict.values) assert.match(body, new RegExp(value));
    for (const device of ['phone-a', 'phone-b']) assert.match(body, new RegExp(device));
    assert.match(body, /volunteer of phone-a/);
    assert.match(await page.locator('table.history').innerText(), /村口/);
    await shot(page, 'review-conflict');
    await submit(page, '#resolve');
    await assertFieldError(page, '#resolve', /请选择一个候选值/, /Choose one of the values/);
    await shot(page, 'review-conflict-error');
    await page.locator('#resolve tr', { hasText: config.conflict.chosen }).locator('input[type=radio]').check();
    await page.fill('#resolve-comment', '入户核实为 11 号');
    await submit(page, '#resolve');
    assert.match(await notice(page), /已裁定/, 'decided, then on to the next item');

    // A rule the merged household breaks: what the rule says, and a link to the household.
    await page.goto(`/review/${config.rule.item}`);
    assert.match(await page.locator('.rule-text').innerText(), new RegExp(`未就业.*${config.rule.employer}`));
    await shot(page, 'review-rule');
    await Promise.all([
      page.waitForURL(new RegExp(`/register/${config.rule.household}$`)),
      page.locator('a', { hasText: '查看该户' }).first().click(),
    ]);
    assert.match(await text(page), /孙有才/);

    // A person in two families: both side by side, her ID number masked; moved.
    await page.goto(`/review/${config.move.item}`);
    body = await text(page);
    assert.match(body, /张守田/);
    assert.match(body, /李长河/);
    assert.equal(await page.locator('section.household').count(), 2);
    assert.ok(!body.includes(config.move.id_number), 'ID numbers are masked');
    await shot(page, 'review-duplicate');
    // The reveal link shows them in full (the audit log records it), and hides them again.
    await Promise.all([page.waitForURL(/reveal=true/), page.locator('p.reveal a').click()]);
    assert.ok((await text(page)).includes(config.move.id_number), 'revealed in full');
    await shot(page, 'review-duplicate-revealed');
    await Promise.all([page.waitForURL((url) => !url.search.includes('reveal=true')), page.locator('p.reveal a').click()]);
    assert.ok(!(await text(page)).includes(config.move.id_number), 'masked again');
    await page.selectOption('#member', `${config.move.member}@${config.move.to}`);
    await page.fill('#move-comment', '已嫁入李家');
    await submit(page, '#move');
    assert.match(await notice(page), /成员已移到另一户/);

    // One family recorded twice: "not the same" needs a reason; merged.
    await page.goto(`/review/${config.merge.item}`);
    await submit(page, '#dismiss');
    await assertFieldError(page, '#dismiss', /请说明为什么不是同一户/, /Say why these are not the same household/);
    await shot(page, 'review-duplicate-error');
    await page.check(`#merge input[name=keep][value="${config.merge.keep}"]`);
    await page.fill('#merge-comment', '同一户登记了两次');
    await submit(page, '#merge');
    assert.match(await notice(page), /两户已合并/);

    // The held move: what it writes, from which device, under which rule; discarded.
    await page.goto('/quarantine');
    await shot(page, 'quarantine');
    await page.selectOption('#rule', 'moves_household');
    await submit(page, 'form.search');
    await Promise.all([page.waitForURL(/\/quarantine\/[^/?]+$/), page.locator('table a').first().click()]);
    body = await text(page);
    assert.match(body, /moves_household/);
    assert.match(body, /设备\s+device for /, 'the device that sent it');
    assert.match(await page.locator('table.keys').innerText(), new RegExp(config.village));
    await shot(page, 'quarantine-item');
    await page.fill('#discard-comment', '不应迁村');
    await submit(page, '#discard');
    assert.match(await notice(page), /已丢弃/);

    await page.goto(`/review?village=${config.village}&status=resolved`);
    await shot(page, 'review-resolved');
    // English one click away, on the work pages too.
    await page.click('a.lang');
    assert.match(await page.locator('h1').innerText(), /Review queue/);
    assert.match(await page.locator('table.review-items').innerText(), /Conflict/);
    await shot(page, 'review-resolved-en');
    await page.click('a.lang');
    await context.close();
  },

  async 'township staff print an enrollment sheet'() {
    const { context, page } = await signedIn(config.township_staff);
    await page.goto('/devices');
    await shot(page, 'devices');
    await page.fill('#volunteer', '志愿者小王');
    await submit(page, '#enroll');
    await assertFieldError(page, '#enroll', /请至少选择一个村/, /Choose at least one village/);
    await shot(page, 'devices-error');
    await page.check(`input[name="village-${config.village}"]`);
    await submit(page, '#enroll');
    assert.match(page.url(), /\/devices\/codes\//);
    const code = (await page.locator('#code').innerText()).trim();
    const payload = await page.locator('.qr').getAttribute('data-payload');
    assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    assert.equal(await page.locator('.qr svg').count(), 1, 'the QR code is an SVG in the page');
    assert.match(await page.locator('#volunteer').innerText(), /志愿者小王/);
    assert.match(await page.locator('#villages').innerText(), new RegExp(config.village));
    assert.match(await page.locator('#expires').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    await shot(page, 'enrollment-sheet');
    if (config.screenshots) {
      await page.emulateMedia({ media: 'print' });
      await page.screenshot({ path: `${config.screenshots}/enrollment-sheet-print.png`, fullPage: true });
      await page.emulateMedia({ media: 'screen' });
    }
    report('code', code);
    report('payload', payload);
    await context.close();
  },

  async 'township staff revoke the phone'() {
    const { context, page } = await signedIn(config.township_staff);
    await page.goto('/devices');
    const row = page.locator('table.devices tr', { hasText: '志愿者小王' });
    assert.doesNotMatch(await row.innerText(), /从未同步/, 'it synced');
    await Promise.all([page.waitForURL(/\/devices\/[^/]+$/), row.locator('a').click()]);
    await shot(page, 'device');
    await submit(page, '#revoke');
    await assertFieldError(page, '#revoke', /请说明撤销的原因/, /Say why the device is revoked/);
    await page.fill('#reason', '手机丢失');
    await submit(page, '#revoke');
    assert.match(await notice(page), /设备已撤销/);
    await page.goto('/devices');
    assert.match(await page.locator('table.devices tr', { hasText: '志愿者小王' }).innerText(), /已撤销/);
    await context.close();
  },

  async 'an admin manages accounts'() {
    const { context, page } = await signedIn(config.admin, { code: totp(config.admin.totp_secret) });
    await page.goto('/accounts');
    await shot(page, 'accounts');
    await page.fill('#username', 'x');
    await page.fill('#name', '新同事');
    await page.fill('#new-password', 'a long enough password 2026');
    await submit(page, '#new-account');
    await assertFieldError(page, '#new-account', /用户名/, /username/);
    await page.fill('#username', 'second.admin');
    await page.selectOption('#role', 'county_admin');
    await page.fill('#new-password', 'a long enough password 2026');
    await submit(page, '#new-account');
    assert.match(await page.locator('h1').innerText(), /账号已创建/);
    assert.match(await page.locator('.totp').getAttribute('data-uri'), /^otpauth:\/\/totp\/Doorstep:second\.admin\?secret=/);
    await shot(page, 'account-created');
    await page.goto('/accounts');
    const row = page.locator('tr[data-username="second.admin"]');
    await Promise.all([page.waitForNavigation(), row.locator('form[action$="/reset-totp"] button').click()]);
    assert.match(await page.locator('h1').innerText(), /已重设动态码/);
    await page.goto('/accounts');
    await Promise.all([page.waitForNavigation(), page.locator('tr[data-username="second.admin"] form[action$="/disable"] button').click()]);
    assert.match(await notice(page), /账号已停用/);
    assert.equal(await page.locator('tr[data-username="second.admin"]').count(), 0);
    await context.close();
  },

  async 'an auditor reads the log'() {
    const { context, page } = await signedIn(config.auditor);
    assert.match(page.url(), /\/audit$/, 'an auditor starts at the log');
    await page.fill('#actor', config.township_staff.username);
    await page.fill('#from', todayInShanghai());
    await page.fill('#to', todayInShanghai());
    await submit(page, '#audit-filter');
    const log = await page.locator('table.audit').innerText();
    assert.match(log, /device\.revoke/);
    assert.match(log, new RegExp(todayInShanghai()), 'times in Asia/Shanghai');
    await shot(page, 'audit');
    // A browser's date field sends only dates; a typed address may say anything.
    await page.goto('/audit?from=2026-02-30');
    await assertFieldError(page, '#audit-filter', /日期应写作/, /Write the date/);
    await context.close();
  },
};

await run(scenarios);
