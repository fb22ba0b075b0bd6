// Logs in to a running Ward through its /login form in Debian's chromium
// (headless), uses the page with the session, checks what a page script can
// and cannot do with it, logs out. Prints one JSON object of observations;
// the Rust test (people.rs) judges them.
// Usage: node login.mjs <ward url> <user> <password>
import { chromium } from 'playwright-core';

const [url, user, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const seen = {};
try {
  const page = await browser.newPage();
  const login = await page.goto(url + '/login');
  seen.login_csp = login.headers()['content-security-policy'] || '';
  // The page's one style is allowed by its hash in the policy.
  seen.form_background = await page.evaluate(() => getComputedStyle(document.querySelector('form')).backgroundColor);
  await page.fill('input[name=name]', user);
  await page.fill('input[name=password]', 'not ' + password);
  const [wrong] = await Promise.all([
    page.waitForResponse(r => r.url() === url + '/api/v1/login'),
    page.click('button[type=submit]'),
  ]);
  seen.wrong_status = wrong.status();
  await page.waitForURL(url + '/api/v1/login');
  seen.after_wrong = await page.locator('.err').textContent().catch(() => null);
  await page.fill('input[name=name]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(url + '/'), page.click('button[type=submit]')]);
  seen.landed = page.url();
  await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  seen.who = await page.locator('#who').textContent();
  seen.cookies = (await page.context().cookies()).map(c => ({
    name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path,
  }));
  seen.script_sees_cookie = await page.evaluate(() => document.cookie.includes('ward_session'));
  // The page's own search works through the session.
  seen.search_status = await page.evaluate(async () =>
    (await fetch('/api/v1/events/search?q=*&since=1h')).status);
  // A change without the CSRF token is refused even from the page itself.
  seen.post_without_token = await page.evaluate(async () =>
    (await fetch('/api/v1/logout', { method: 'POST' })).status);
  // Log out with the page's button (which sends the token); the old cookie
  // is dead on the server, not only forgotten by the browser.
  const old = (await page.context().cookies()).find(c => c.name === 'ward_session').value;
  await Promise.all([page.waitForURL(url + '/login'), page.click('#logout')]);
  seen.cookies_after_logout = (await page.context().cookies()).length;
  const replay = await page.request.get(url + '/api/v1/me', { headers: { cookie: 'ward_session=' + old } });
  seen.after_logout = replay.status();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
