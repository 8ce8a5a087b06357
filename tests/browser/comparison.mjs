// System information comparison in a real headless Chromium: a county clerk imports the
// registry base list (refused whole for its bad rows, then imported with them set aside) and
// social insurance (a column named by hand), reads the mismatches per village and the visit
// tasks, and withdraws an import; township staff read their mismatches and cannot import.
//
// Usage: node comparison.mjs CONFIG_JSON (see tests/tests/e2e/console_comparison.rs). The
// first scenario reports where it saved the error spreadsheet the page offered.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { config, fresh, report, run, shot, signIn, text } from './harness.mjs';

async function signedIn(account) {
  const { context, page } = await fresh();
  await signIn(page, account);
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  return { context, page };
}

/// Chooses a CSV file for the upload form, as a clerk picks one from the disk.
async function chooseFile(page, name, content) {
  await page.setInputFiles('#file', { name, mimeType: 'text/csv', buffer: Buffer.from(content, 'utf8') });
}

/// Submits the upload form; returns the answer's HTTP status.
async function upload(page) {
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click('#import button[type=submit]'),
  ]);
  return response.status();
}

/// The per-village table as { village code: [mismatches, tasks open, tasks done] }.
async function villageCounts(page) {
  const rows = await page.locator('table.village-mismatches tbody tr:not(.total)').all();
  const counts = {};
  for (const row of rows) {
    const village = (await row.locator('td').first().innerText()).match(/\d{12}/)?.[0];
    const numbers = await row.locator('td.num').allInnerTexts();
    counts[village] = numbers.map((n) => Number(n.replace(/\D/g, '')));
  }
  return counts;
}

async function mismatchNames(page) {
  return (await page.locator('table.mismatches td.person strong').allInnerTexts()).sort();
}

const scenarios = {
  async 'a clerk imports rosters and withdraws one'() {
    const { context, page } = await signedIn(config.clerk);
    // The comparison's pages are in the clerk's navigation.
    await page.goto('/progress');
    const nav = await page.locator('nav.pages').innerText();
    assert.match(nav, /名册导入/);
    assert.match(nav, /比对结果/);
    await page.goto('/comparison/imports');
    assert.match(await text(page), /还没有导入名册/);
    await Promise.all([page.waitForURL(/\/comparison\/import\b/), page.locator('a.button', { hasText: '导入名册' }).click()]);
    assert.match(await page.locator('#import h2').innerText(), /户籍人口底册/);
    await shot(page, 'comparison-import');

    // Refused whole: both bad rows named beside the form, in both languages.
    await chooseFile(page, '户籍底册.csv', config.registry_csv);
    assert.equal(await upload(page), 422);
    const refusal = page.locator('#refusal');
    assert.match(await refusal.innerText(), /2 行有误，整个文件未导入/);
    assert.match(await refusal.innerText(), /2 rows are bad and nothing was imported/);
    const rows = await refusal.locator('table.row-errors tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.row));
    assert.deepEqual([...new Set(rows)], ['7', '8']);
    const seventh = await refusal.locator('tr[data-row="7"]').first().innerText();
    assert.match(seventh, /身份证号码/);
    assert.match(seventh, /校验位/);
    assert.match(seventh, /check character/);
    assert.match(await refusal.locator('tr[data-row="8"]').first().innerText(), /没有代码“07”/);
    await shot(page, 'comparison-import-refused');
    // The same errors as a spreadsheet, downloaded from the page.
    const [download] = await Promise.all([page.waitForEvent('download'), refusal.locator('a.download').click()]);
    assert.equal(download.suggestedFilename(), 'roster-errors.xlsx');
    const saved = join(config.downloads, 'roster-errors.xlsx');
    await download.saveAs(saved);
    report('errors_xlsx', saved);
    // Nothing was stored.
    await page.goto('/comparison/imports');
    assert.match(await text(page), /还没有导入名册/);

    // A file larger than any other form's body (here 3,000 bad rows, some 120 KB): read
    // whole, refused whole, its first errors listed and the rest left to the spreadsheet.
    const bad = ['姓名,身份证号码,性别,户籍状态'];
    for (let i = 0; i < 3000; i++) bad.push(`${'某'.repeat(10)}${i},1411241980010100,男,01`);
    await page.goto('/comparison/import?kind=registry');
    await chooseFile(page, '大文件.csv', bad.join('\n') + '\n');
    assert.equal(await upload(page), 422);
    assert.match(await page.locator('#refusal').innerText(), /3000 行有误/);
    assert.equal(await page.locator('#refusal table.row-errors tbody tr').count(), 200);
    assert.match(await page.locator('#refusal').innerText(), /另有 2800 条错误，见下载的表格/);

    // Imported with the bad rows set aside: they are listed, and the rest is in.
    await page.goto('/comparison/import?kind=registry');
    await chooseFile(page, '户籍底册.csv', config.registry_csv);
    await page.check('input[name=bad_rows][value=set_aside]');
    assert.equal(await upload(page), 200);
    const done = page.locator('#imported');
    assert.match(await done.innerText(), /已导入 5 行，跳过错误行 2 行/);
    assert.deepEqual(
      [...new Set(await done.locator('table.row-errors tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.row)))],
      ['7', '8'],
    );
    await shot(page, 'comparison-import-done');

    // Social insurance: its employer column is named by hand, and the page remembers it.
    await page.locator('nav.kinds a', { hasText: '社保参保名册' }).click();
    await page.waitForURL(/kind=social_insurance/);
    await chooseFile(page, '社保参保.csv', config.insurance_csv);
    assert.equal(await upload(page), 422, 'no employer column without the mapping');
    assert.match(await page.locator('#refusal').innerText(), /找不到“参保单位”列/);
    await page.fill('#map-employer', '缴费单位');
    await chooseFile(page, '社保参保.csv', config.insurance_csv);
    assert.equal(await upload(page), 200);
    assert.match(await page.locator('#imported').innerText(), /已导入 1 行/);
    await page.goto('/comparison/import?kind=social_insurance');
    assert.equal(await page.inputValue('#map-employer'), '缴费单位');

    // The mismatches: exactly the planted ones, per village, ID numbers masked.
    await page.goto('/comparison/mismatches');
    assert.deepEqual(await mismatchNames(page), ['孙丽', '张伟', '李强', '王芳'].sort());
    const body = await text(page);
    for (const number of config.full_id_numbers) assert.ok(!body.includes(number), `masked: ${number}`);
    // Village names, not only codes.
    assert.match(await page.locator('table.village-mismatches').innerText(), new RegExp(`\\S+ ${config.village}`));
    const counts = await villageCounts(page);
    // [mismatches, visit tasks open, visit tasks done]: 孙丽 is in no household, so no task.
    assert.deepEqual(counts[config.village], [2, 2, 0]);
    assert.deepEqual(counts[config.other_village], [2, 1, 0]);
    const dead = page.locator('table.mismatches tr', { hasText: '李强' });
    assert.match(await dead.locator('td.ledger').innerText(), /在户/);
    assert.match(await dead.locator('td.roster').innerText(), /死亡/);
    await shot(page, 'comparison-mismatches');
    // Shown in full on request (the audit log records it), and masked again.
    await Promise.all([page.waitForURL(/reveal=true/), page.locator('p.reveal a').click()]);
    assert.ok((await text(page)).includes(config.full_id_numbers[1]), 'revealed in full');
    await Promise.all([page.waitForURL((url) => !url.search.includes('reveal=true')), page.locator('p.reveal a').click()]);
    assert.ok(!(await text(page)).includes(config.full_id_numbers[1]), 'masked again');
    // Filtered: a village, a kind, a status.
    await page.selectOption('#kind', 'registry');
    await page.selectOption('#area', config.other_village);
    await Promise.all([page.waitForNavigation(), page.click('form.search button[type=submit]')]);
    assert.deepEqual(await mismatchNames(page), ['孙丽', '李强'].sort());
    await page.selectOption('#status', 'no_task');
    await Promise.all([page.waitForNavigation(), page.click('form.search button[type=submit]')]);
    assert.deepEqual(await mismatchNames(page), ['孙丽']);
    // The household of a mismatch, and the village's visit tasks.
    await page.goto('/comparison/mismatches');
    await Promise.all([page.waitForURL(/\/register\/[^/?]+$/), dead.locator('a', { hasText: '查看该户' }).click()]);
    assert.match(await text(page), /李强/);
    await page.goto('/comparison/mismatches');
    const villageRow = page.locator('table.village-mismatches tr', { hasText: config.other_village });
    await Promise.all([page.waitForURL(/\/tasks\?area=/), villageRow.locator('a.tasks').click()]);
    const taskList = await page.locator('#task-list').innerText();
    assert.match(taskList, /李强/);
    assert.match(taskList, /户籍人口底册/, 'the roster by its name, not its slug');
    await shot(page, 'tasks');

    // Withdrawn: the import stays listed as withdrawn, and its mismatch is gone.
    await page.goto('/comparison/imports');
    assert.equal(await page.locator('table.imports tbody tr').count(), 2);
    const insurance = page.locator('table.imports tr', { hasText: '社保参保名册' });
    assert.match(await insurance.innerText(), /社保参保\.csv/);
    assert.match(await insurance.innerText(), /李华/);
    await Promise.all([page.waitForNavigation(), insurance.locator('form.withdraw button').click()]);
    assert.match(await page.locator('.notice').innerText(), /已撤回/);
    assert.match(await insurance.innerText(), /已撤回/);
    assert.equal(await insurance.locator('form.withdraw').count(), 0);
    await shot(page, 'comparison-imports');
    await page.goto('/comparison/mismatches');
    assert.deepEqual(await mismatchNames(page), ['孙丽', '李强', '王芳'].sort());
    assert.deepEqual((await villageCounts(page))[config.village], [1, 1, 1], "the withdrawn mismatch settled its task");

    // English, one click away.
    await Promise.all([page.waitForNavigation(), page.locator('a.lang').click()]);
    assert.match(await page.locator('h1').innerText(), /Mismatches/);
    assert.match(await page.locator('table.mismatches').innerText(), /Household registry base list/);
    await shot(page, 'comparison-mismatches-en');
    await page.goto('/comparison/import');
    assert.match(await page.locator('h1').innerText(), /Import a roster/);
    await context.close();
  },

  async 'township staff read their mismatches and cannot import'() {
    const { context, page } = await signedIn(config.township_staff);
    const nav = await page.locator('nav.pages').innerText();
    assert.match(nav, /比对结果/);
    assert.doesNotMatch(nav, /名册导入/);
    await page.goto('/comparison/mismatches');
    assert.deepEqual(await mismatchNames(page), ['孙丽', '李强', '王芳'].sort());
    // No reveal for a role that may not see ID numbers in full.
    assert.equal(await page.locator('p.reveal').count(), 0);
    const refused = await page.goto('/comparison/import');
    assert.equal(refused.status(), 403);
    assert.match(await text(page), /无权/);
    await context.close();
  },
};

await run(scenarios);
