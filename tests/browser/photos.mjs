// A household's photos on the console in a real headless Chromium: the door plate as a
// thumbnail that loads and links to the photo, the bank card masked for a township clerk
// with a placeholder saying why.
//
// Usage: node photos.mjs CONFIG_JSON (see tests/tests/e2e/photos_server.rs): `url`, `clerk`,
// `household`, `screenshots`.

import assert from 'node:assert/strict';
import { config, fresh, report, run, shot, signIn } from './harness.mjs';

const scenarios = {
  async "a clerk sees the household's photos, the bank card masked"() {
    const { context, page } = await fresh();
    await signIn(page, config.clerk);
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    await page.goto(`/register/${config.household}`);
    const photos = page.locator('#photos li.photo');
    assert.equal(await photos.count(), 2);
    const thumbnail = page.locator('#photos img').first();
    await thumbnail.waitFor();
    // The thumbnail is drawn: the browser decoded the JPEG the server made.
    const width = await thumbnail.evaluate((img) => img.complete && img.naturalWidth);
    assert.equal(width, 320);
    const link = await page.locator('#photos li.photo a').first().getAttribute('href');
    assert.match(link, /size=full$/);
    const masked = await page.locator('#photos li.masked .placeholder').innerText();
    assert.match(masked, /银行卡照片已遮盖/);
    await page.locator('#photos').scrollIntoViewIfNeeded();
    await shot(page, 'household-photos');
    report('thumbnail_width', width);
    report('masked', masked);
    await context.close();
  },
};

await run(scenarios);
