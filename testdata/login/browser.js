'use strict';
// A real (headless) browser logs a user in through approuter and our login
// page: opens URL, waits for a form with inputs named "username" and
// "password", fills them, submits, follows all redirects and scripts, then
// prints what the final page shows, for the Go test to assert on.
//
// Usage: URL=http://127.0.0.1:5055/index.html USERNAME=alice PASSWORD=alice-pw node browser.js
// Optional env:
//   VISIT       space-separated URLs opened afterwards in the same browser
//               session (same cookies), e.g. ".../admin/admin.html .../user-api/currentUser"
//   CHROMIUM    browser binary, default /usr/bin/chromium (Debian's package)
//   TIMEOUT_MS  per step, default 30000
// playwright-core comes from NODE_PATH (a throwaway npm prefix, not vendored);
// it drives the given binary and downloads nothing.
//
// Output: one JSON line per page on stdout, first the page after login, then
// one per VISIT URL: {"step","status","url","title","text"} (status = HTTP
// status of the last main-frame response, text = document.body.innerText).
// Exit codes: 0 ok; 1 error (no login form, timeout, browser failure);
// 2 the page after submitting still shows a password field (login failed).

const { chromium } = require('playwright-core');

const env = process.env;
for (const k of ['URL', 'USERNAME', 'PASSWORD']) {
  if (!env[k]) {
    console.error(`browser.js: ${k} is not set`);
    process.exit(1);
  }
}
const timeout = Number(env.TIMEOUT_MS || 30000);

async function snapshot(page, step, response) {
  await page.waitForLoadState('networkidle').catch(() => {});
  const text = await page.evaluate(() => (document.body ? document.body.innerText : ''));
  return {
    step,
    status: response ? response.status() : null,
    url: page.url(),
    title: await page.title(),
    text: text.trim(),
  };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    // Running as root needs --no-sandbox (Playwright adds it by default too).
    args: ['--no-sandbox'],
  });
  try {
    // The test CA is not in Chromium's trust store: accept it for loopback tests.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(timeout);
    // No HTTP cache: approuter's static pages carry Last-Modified only, so
    // Chromium would otherwise show a cached page after logout without asking.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable'); // setCacheDisabled has no effect without it
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });

    // Remember the last main-frame response, for its status.
    let last = null;
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) last = r;
    });

    await page.goto(env.URL);
    const form = page.locator('form:has(input[name="username"]):has(input[name="password"])').first();
    await form.waitFor({ state: 'visible' });
    await form.locator('input[name="username"]').fill(env.USERNAME);
    await form.locator('input[name="password"]').fill(env.PASSWORD);

    const submit = form.locator('button[type="submit"], input[type="submit"], button:not([type])').first();
    const navigated = page.waitForNavigation({ waitUntil: 'load' });
    if (await submit.count()) await submit.click();
    else await form.locator('input[name="password"]').press('Enter');
    await navigated;

    const after = await snapshot(page, 'login', last);
    console.log(JSON.stringify(after));
    if (await page.locator('input[type="password"]').count()) {
      console.error('browser.js: still on a login form after submitting');
      return 2;
    }

    for (const url of (env.VISIT || '').split(/\s+/).filter(Boolean)) {
      const response = await page.goto(url);
      console.log(JSON.stringify(await snapshot(page, url, response || last)));
    }
    return 0;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`browser.js: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  },
);
