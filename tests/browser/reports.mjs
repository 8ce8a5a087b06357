// The console's reports in a real headless Chromium: the indicators drilled down from the
// county to a village, the failing-households list and its household, a roster downloaded,
// the subsidy page; an admin closes a month, is refused one not over, and sees it reprint
// with a later correction as a difference.
//
// Usage: node reports.mjs CONFIG_JSON (see tests/tests/e2e/console_reports.rs). The download
// scenario saves the files it downloads under `config.downloads` and reports their paths; the
// closing scenario reports the month it closed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { config, fresh, report, run, shot, signIn, text, totp } from './harness.mjs';

async function signedIn(account, options) {
  const { context, page } = await fresh();
  await signIn(page, account, options);
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  return { context, page };
}

/// Follows a link and waits for the page it leads to.
async function follow(page, locator, url) {
  await Promise.all([page.waitForURL(url), locator.click()]);
}

/// Downloads what `locator` links to into `config.downloads/name`; its path.
async function download(page, locator, name) {
  const [file] = await Promise.all([page.waitForEvent('download'), locator.click()]);
  const path = join(config.downloads, name);
  await file.saveAs(path);
  return path;
}

async function card(page, id) {
  return (await page.locator(`#${id} .value`).innerText()).trim();
}

const scenarios = {
  async 'a county clerk reads the indicators down to a village'() {
    const { context, page } = await signedIn(config.clerk);
    // From the navigation, as the clerk's role is offered it.
    await follow(page, page.locator('nav.pages a', { hasText: '报表' }), /\/reports$/);
    let body = await text(page);
    assert.match(body, /指标/);
    assert.match(body, new RegExp(config.county));
    assert.equal(await card(page, 'failing-card'), String(config.failing_in_county));
    await shot(page, 'reports-county');

    // County → township → village, each by its name.
    const township = page.locator('table.parts tr', { hasText: config.township }).locator('a');
    assert.match(await township.innerText(), /\p{Script=Han}/u, 'the township by its name');
    await follow(page, township, new RegExp(`area=${config.township}$`));
    assert.match(await page.locator('h1').innerText(), new RegExp(config.township));
    await shot(page, 'reports-township');
    const village = page.locator('table.parts tr', { hasText: config.village }).locator('a');
    const villageName = await village.innerText();
    assert.match(villageName, /\p{Script=Han}/u, 'the village by its name');
    await follow(page, village, new RegExp(`area=${config.village}$`));
    assert.match(await page.locator('h1').innerText(), new RegExp(`${villageName} ${config.village}`));
    assert.equal(await page.locator('table.parts').count(), 0, 'a village has no parts');
    assert.equal(await card(page, 'failing-card'), String(config.failing.length));
    const crumbs = await page.locator('.crumbs a').allInnerTexts();
    assert.equal(crumbs.length, 3, `county › township › village: ${crumbs}`);
    await shot(page, 'reports-village');

    // The same page in English, one click away.
    await follow(page, page.locator('header.top a.lang'), /\/reports\?area=/);
    assert.match(await page.locator('h1').innerText(), /^Indicators/);
    assert.match(await text(page), /Households failing one-employed/);
    await shot(page, 'reports-village-english');
    await follow(page, page.locator('header.top a.lang'), /\/reports\?area=/);

    // The failing households, each a link to its household.
    await follow(page, page.locator('#failing-card a'), new RegExp(`/reports/failing\\?area=${config.village}`));
    const rows = page.locator('table.report-list tbody tr');
    assert.equal(await rows.count(), config.failing.length);
    body = await text(page);
    for (const household of config.failing) assert.match(body, new RegExp(household.number));
    await shot(page, 'reports-failing');
    await follow(page, rows.first().locator('a'), new RegExp(`/register/${config.failing[0].id}$`));
    assert.match(await text(page), new RegExp(config.failing[0].head));

    // The untrained list.
    await page.goto(`/reports/untrained?area=${config.village}`);
    assert.equal(await page.locator('table.report-list tbody tr').count(), config.untrained);
    await shot(page, 'reports-untrained');

    // A roster and a list as files, ID numbers masked; one roster in full, through the form.
    await page.goto(`/reports?area=${config.village}`);
    const poorLabour = page.locator('tr[data-roster=poor_labour]');
    report('poor_labour_xlsx', await download(page, poorLabour.locator('a', { hasText: 'XLSX' }), 'poor_labour.xlsx'));
    report('failing_csv', await download(page, page.locator('tr[data-roster=failing_households] a', { hasText: 'CSV' }), 'failing.csv'));
    await page.selectOption('#full-roster', 'poor_labour');
    await page.selectOption('#full-format', 'csv');
    report('poor_labour_full_csv', await download(page, page.locator('#full-ids button[type=submit]'), 'poor_labour_full.csv'));
    await poorLabour.scrollIntoViewIfNeeded();
    await shot(page, 'reports-downloads');

    // Subsidies and monthly figures, read only for a clerk.
    await page.goto(`/reports/subsidies?area=${config.township}`);
    assert.match(await text(page), /一次性交通补助/);
    assert.equal(await page.locator('#subsidy-settings').count(), 0, 'a clerk edits no settings');
    await shot(page, 'reports-subsidies-clerk');
    await page.goto('/reports/months');
    assert.equal(await page.locator('#close-month').count(), 0, 'a clerk closes no month');

    // Another county's area is refused, in both languages.
    const refused = await page.goto(`/reports?area=${config.other_county}`);
    assert.equal(refused.status(), 403);
    assert.match(await text(page), /无权查看区划/);
    assert.match(await text(page), /outside your scope/);
    await context.close();
  },

  async 'an admin closes a month'() {
    const { context, page } = await signedIn(config.admin, { code: totp(config.admin.totp_secret) });
    await page.goto('/reports/months');
    await shot(page, 'reports-months-empty');
    const offered = await page.inputValue('#month');
    assert.match(offered, /^\d{4}-\d\d$/, 'the last month over is offered');
    // A month not over is refused beside the field, in both languages.
    await page.fill('#month', '2999-01');
    await Promise.all([page.waitForNavigation(), page.click('#close-month button[type=submit]')]);
    const error = await page.locator('#close-month .field-error').innerText();
    assert.match(error, /尚未结束/);
    assert.match(error, /not over yet/);
    await shot(page, 'reports-months-refused');
    // The language toggle on the refusal (shown at the close form's POST-only address)
    // comes back to the months page, not to a 405; and back again.
    await follow(page, page.locator('header.top a.lang'), /\/reports\/months\?area=/);
    assert.match(await page.locator('#close-month').innerText(), /Close/);
    await follow(page, page.locator('header.top a.lang'), /\/reports\/months\?area=/);
    await page.fill('#month', offered);
    await Promise.all([page.waitForURL(new RegExp(`/reports/months/${offered}\\?.*closed=1`)), page.click('#close-month button[type=submit]')]);
    assert.match(await page.locator('.notice').innerText(), /已关账/);
    assert.match(await page.locator('.closed-stamp').innerText(), new RegExp(config.admin.username));
    assert.match(await page.locator('#differences').innerText(), /没有差异/);
    report('households_closed', await card(page, 'households-card'));
    await shot(page, 'reports-month-closed');
    await page.goto('/reports/months');
    assert.match(await page.locator('table.closed-months').innerText(), new RegExp(offered));
    report('month', offered);
    await context.close();
  },

  async 'the closed month reprints unchanged beside a correction'() {
    const { context, page } = await signedIn(config.admin, { code: totp(config.admin.totp_secret) });
    await page.goto('/reports/months');
    await follow(page, page.locator('table.closed-months a', { hasText: config.month }), new RegExp(`/reports/months/${config.month}`));
    assert.equal(await card(page, 'households-card'), String(config.households_closed), 'as closed');
    const line = page.locator('table.differences tr', { hasText: 'coverage.households' });
    const cells = (await line.locator('td').allInnerTexts()).map((c) => c.trim());
    assert.deepEqual(cells.slice(2), [String(config.households_closed), String(config.households_closed + 1)]);
    await shot(page, 'reports-month-differences');

    // The subsidy settings: a wrong field is named beside it in both languages, then saved.
    await page.goto(`/reports/subsidies?year=${config.year}`);
    await page.fill('#transport_cap', '八百');
    await page.fill('#insurance_share_denominator', '0');
    await Promise.all([page.waitForNavigation(), page.click('#subsidy-settings button[type=submit]')]);
    const transport = await page.locator('#field-transport_cap .field-error').innerText();
    assert.match(transport, /不是整数/);
    assert.match(transport, /not a whole number/);
    const denominator = await page.locator('#field-insurance_share_denominator .field-error').innerText();
    assert.match(denominator, /分母/);
    assert.match(denominator, /denominator/);
    assert.equal(await page.inputValue('#transport_cap'), '八百', 'what was typed comes back');
    await shot(page, 'reports-subsidy-settings-errors');
    const values = { transport_cap: '800', service_cap: '300', insurance_share_numerator: '2', insurance_share_denominator: '3', insurance_max_years: '3', base_floor_percent: '40', average_wage: '85000' };
    for (const [field, value] of Object.entries(values)) await page.fill(`#${field}`, value);
    await Promise.all([page.waitForURL(/saved=1/), page.click('#subsidy-settings button[type=submit]')]);
    assert.match(await page.locator('.notice').innerText(), /已保存/);
    assert.equal(await page.inputValue('#average_wage'), '85000');
    await shot(page, 'reports-subsidies-admin');
    await context.close();
  },
};

await run(scenarios);
