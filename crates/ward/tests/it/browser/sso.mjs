// Single sign-on through Ward's login page in Debian's chromium (headless)
// against provider.mjs. Prints one JSON object of observations; the Rust
// test (sso.rs) judges them.
// Usage: node sso.mjs <ward url>
import { chromium } from 'playwright-core';

const [url] = process.argv.slice(2);
const callback = url + '/api/v1/oidc/callback';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const seen = {};

// Signs in at the provider as `user` from Ward's login page, and stops
// the browser at Ward's callback: returns the callback URL, not yet used.
// (The provider's answers are followed here, one redirect at a time,
// since a route sees only the first request of a redirect chain.)
async function capture(page, user) {
  let captured;
  const context = page.context();
  // The provider forgets the last person (its cookies start with "_";
  // Ward's, on the same host, stay).
  await context.clearCookies({ name: /^_/ });
  const toProvider = u => !u.href.startsWith(url);
  await page.route(toProvider, async route => {
    if (!route.request().isNavigationRequest()) return route.continue();
    let resp = await route.fetch({ maxRedirects: 0 });
    for (let i = 0; i < 10; i++) {
      const loc = resp.headers()['location'];
      if (!loc || resp.status() < 300 || resp.status() >= 400) break;
      const next = new URL(loc, resp.url()).toString();
      if (next.startsWith(callback)) {
        captured = next;
        return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>captured</p>' });
      }
      resp = await context.request.get(next, { maxRedirects: 0 });
    }
    return route.fulfill({ response: resp });
  });
  await page.goto(url + '/login');
  await page.click('#sso');
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
  // The provider's consent page.
  for (let i = 0; i < 40 && !captured; i++) {
    const go = await page.$('button[type=submit]');
    if (go) await go.click().catch(() => {});
    await page.waitForTimeout(250);
  }
  await page.unroute(toProvider);
  if (!captured) throw new Error(user + ' never reached the callback: ' + page.url());
  return captured;
}

// Opens a callback URL: its status and what the page says.
async function open(page, u) {
  const resp = await page.goto(u);
  const status = resp.status();
  const why = await page.locator('#why').textContent().catch(() => null);
  return { status, why };
}

function withParam(u, k, v) {
  const x = new URL(u);
  x.searchParams.set(k, v);
  return x.toString();
}

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('request', r => {
    if (!seen.authorize && r.url().includes('/auth?')) seen.authorize = r.url();
  });
  const login = await page.goto(url + '/login');
  seen.button = await page.locator('#sso').textContent();
  seen.login_status = login.status();

  // A successful login, mapped to admin in tenant acme.
  const first = await capture(page, 'alice');
  await Promise.all([page.waitForURL(url + '/'), page.goto(first)]);
  await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  seen.who = await page.locator('#who').textContent();
  seen.cookies = (await context.cookies()).map(c => c.name).sort();
  seen.me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());

  // The same callback again: its state is used up.
  seen.replay = await open(page, first);

  // A second login in the same browser, answered with the first login's
  // code (already used, and bound to another PKCE verifier and nonce).
  const second = await capture(page, 'alice');
  seen.code_reuse = await open(page, withParam(second, 'code', new URL(first).searchParams.get('code')));

  // A state that this browser was not given.
  const third = await capture(page, 'bob');
  seen.wrong_state = await open(page, withParam(third, 'state', 'forged-state-value'));
  // A forged code with the right state.
  seen.forged_code = await open(page, withParam(third, 'code', 'forged-code-value'));
  // The real answer after a forged one: that state is used up too.
  seen.after_forged = await open(page, third);

  // A callback URL carried to another browser (login CSRF): no state
  // cookie there.
  const fourth = await capture(page, 'bob');
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  seen.other_browser = await open(otherPage, fourth);
  await other.close();
  // Seen elsewhere, that state is dead in the right browser too.
  seen.after_other_browser = await open(page, fourth);
  const fine = await capture(page, 'bob');
  await Promise.all([page.waitForURL(url + '/'), page.goto(fine)]);
  await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  seen.bob_who = await page.locator('#who').textContent();

  // A person whose claims map to no role.
  const fifth = await capture(page, 'mallory');
  seen.unmapped = await open(page, fifth);

  // An ID token that expired before Ward checked it.
  const sixth = await capture(page, 'late');
  seen.expired = await open(page, sixth);

  // An ID token naming another issuer, signed with the provider's key.
  const seventh = await capture(page, 'imposter');
  seen.wrong_issuer = await open(page, seventh);

  // A genuine ID token of an earlier login, with that login's nonce.
  const eighth = await capture(page, 'echo');
  seen.echo_first = await open(page, eighth);
  const ninth = await capture(page, 'echo');
  seen.replayed_nonce = await open(page, ninth);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
