// Drives Ward's analyst console in Debian's chromium (headless) and prints
// one JSON object of observations; the Rust test (console.rs) judges them.
//
//   node console.mjs triage <url> <user> <password> <shots dir> <ingest token> <more events file>
//     Keyboard-only triage: log in, queue, open the top alert, evidence,
//     acknowledge, assign, comment, close as false positive with a reason,
//     silence from it; search, `| count`, an event; operations; the queue
//     updating live when new events make an alert.
//   node console.mjs bulk <url> <user> <password> <shots dir> <rule id>
//     The queue grouped by rule and by entity; a bulk close of selected
//     alerts from the keyboard and of every alert a filter matches (the
//     reason required); a saved view; the theme and density chosen and
//     kept across a reload.
//   node console.mjs search <url> <user> <password> <shots dir>
//     Search from the keyboard: type a query and a range, the histogram
//     loads, a mouse drag across bars brushes the range, a value of the
//     field sidebar filters in (keyboard), an event opens (keyboard), the
//     search is saved and listed.
//   node console.mjs xss <url> <user> <password> <shots dir> <ids file: {events, alerts, users}>
//     Visits every view that shows the stored payloads and counts dialogs,
//     injected elements and requests to payload addresses.
//
// On every page: Content-Security-Policy violations (the browser's
// `securitypolicyviolation` events and console reports) and whether the
// page is wider than the window at 390 and 1366 px.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const [mode, url, user, password, shots, ...rest] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const seen = { csp: [], dialogs: 0, payload_requests: [], overflow: [], shots: [], pages: 0, axe: [], axe_runs: 0 };

const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
await page.exposeFunction('wardCspViolation', v => seen.csp.push(v));
await page.addInitScript(() => {
  document.addEventListener('securitypolicyviolation', e =>
    window.wardCspViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + location.pathname));
});
page.on('console', m => {
  if (/Content.Security.Policy|Refused to/i.test(m.text())) seen.csp.push('console: ' + m.text());
});
page.on('dialog', async d => { seen.dialogs += 1; await d.dismiss(); });
page.on('request', r => { if (r.url().includes('xss.invalid')) seen.payload_requests.push(r.url()); });

/// axe-core's WCAG 2.2 A and AA rules on the page as it is, in the light
/// and the dark theme (the theme follows the system: emulated here).
async function accessible(name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const r = await new AxeBuilder({ page })
      .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'])
      .analyze();
    seen.axe_runs += 1;
    for (const v of r.violations) {
      seen.axe.push(`${name}@${scheme}: ${v.id} ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/// Checks accessibility in both themes, takes screenshots at both widths
/// (and the dark theme at 1366) and notes any horizontal overflow.
async function capture(name) {
  seen.pages += 1;
  if (mode !== 'xss') await accessible(name);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: `${shots}/${name}-dark-1366.png`, fullPage: true, caret: 'initial' });
  seen.shots.push(`${shots}/${name}-dark-1366.png`);
  await page.emulateMedia({ colorScheme: 'light' });
  for (const width of [1366, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > width) seen.overflow.push(`${name}@${width}: ${wide}px`);
    const path = `${shots}/${name}-${width}.png`;
    // caret: 'initial', or Playwright injects a style of its own.
    await page.screenshot({ path, fullPage: true, caret: 'initial' });
    seen.shots.push(path);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
}

async function login() {
  await page.goto(url + '/', { waitUntil: 'load' });
  seen.unauthenticated_landing = new URL(page.url()).pathname;
  await page.focus('input[name=name]');
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForURL(url + '/'), page.keyboard.press('Enter')]);
  await page.waitForSelector('#queue');
}

/// After an action the page moves the focus to what the action said.
const said = () => page.waitForFunction(() => ['flash', 'action-error'].includes(document.activeElement?.id));
const text = sel => page.locator(sel).first().textContent().then(t => (t || '').trim()).catch(() => null);

async function triage() {
  const [ingestToken, moreEvents] = rest;
  await login();
  seen.queue_rows = await page.locator('#queue [data-alert]').count();
  seen.top_alert = await page.locator('#queue [data-alert]').first().getAttribute('data-alert');
  seen.queue_sla = await text('#queue .sla');
  await capture('queue');
  // ? opens the help, Escape closes it.
  await page.keyboard.press('?');
  seen.help_open = await page.locator('#help').evaluate(d => d.open);
  await capture('help');
  await page.keyboard.press('Escape');
  // j moves down and k back up; Enter opens the current alert.
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  seen.current_after_jk = await page.locator('#queue .row.current').getAttribute('data-alert');
  await Promise.all([page.waitForURL(/\/console\/alerts\/[0-9a-f]+$/), page.keyboard.press('Enter')]);
  await page.waitForSelector('#alert');
  seen.opened = await page.locator('#alert').getAttribute('data-alert-page');
  seen.title = await text('#alert-title');
  seen.evidence = await page.locator('.evidence .proof').allTextContents();
  seen.runbook_shown = (await text('#alert')).includes('Runbook');
  await capture('alert');

  await page.keyboard.press('a');
  await page.waitForFunction(() => document.getElementById('alert-status')?.textContent === 'acknowledged');
  await said();
  seen.after_ack = await text('#alert-status');
  seen.acked_by = await text('#acked-by');

  await page.keyboard.press('n');
  await page.keyboard.type('bob');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('alert-assignee')?.textContent === 'bob');
  await said();

  await page.keyboard.press('m');
  await page.keyboard.type('checked the source address: our scanner');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('comments')?.textContent.includes('our scanner'));
  await said();

  await page.keyboard.press('c');
  seen.focus_after_c = await page.evaluate(() => document.activeElement?.id);
  await page.keyboard.type('False');
  await page.keyboard.press('Tab');
  await page.keyboard.type('internal vulnerability scanner, ticket SEC-42');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('alert-status')?.textContent === 'resolved');
  seen.after_resolve = await text('#alert-status');
  seen.verdict = await text('#alert .verdict');
  seen.resolved_by = await text('#resolved-by');
  await said();

  await page.keyboard.press('s');
  await page.keyboard.press('Tab');
  await page.keyboard.type('scanner runs nightly');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.getElementById('flash')?.textContent || '').startsWith('Silence'));
  seen.silence_flash = await text('#flash');
  seen.silence_preview = Number(await text('#silence-preview'));
  await capture('alert-resolved');

  // Search: / goes to the search view, / again focuses the query.
  await Promise.all([page.waitForURL(/\/console\/search/), page.keyboard.press('/')]);
  await page.keyboard.press('/');
  await page.keyboard.type('event.action:login_failed');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('30d');
  await Promise.all([page.waitForURL(/q=event.action/), page.keyboard.press('Enter')]);
  seen.matched = Number(await text('#matched'));
  seen.hits = await page.locator('.hits [data-event]').count();
  await capture('search');
  await page.goto(url + '/console/search?q=' + encodeURIComponent('event.action:login_failed | count') + '&since=30d');
  seen.count_result = Number(await text('#agg-count'));
  await page.goto(url + '/console/search?q=' + encodeURIComponent('event.action:login_failed | top source.ip 5') + '&since=30d');
  seen.top_buckets = await page.locator('#buckets li').count();
  await capture('search-top');
  await page.goto(url + '/console/search?q=' + encodeURIComponent('event.action:login_failed') + '&since=30d');
  await Promise.all([page.waitForURL(/\/console\/events\//), page.locator('.hits a.title').first().click()]);
  seen.event_fields = await page.locator('#fields dt').allTextContents();
  seen.event_proof = await text('.proof');
  await capture('event');

  await page.goto(url + '/console/operations');
  seen.operations_ready = await text('#ready');
  seen.operations_store = await page.locator('#store dt').allTextContents();
  await capture('operations');

  // Live: new events make a new alert; the open queue shows it without a reload.
  await page.goto(url + '/console/alerts');
  const before = Number(await text('#queue-count'));
  const navigations = [];
  page.on('framenavigated', f => { if (f === page.mainFrame()) navigations.push(f.url()); });
  const sent = await page.request.post(url + '/api/v1/ingest', {
    headers: { authorization: 'Bearer ' + ingestToken, 'content-type': 'application/x-ndjson' },
    data: readFileSync(moreEvents, 'utf8'),
  });
  seen.more_ingested = sent.status();
  await page.waitForFunction(n => Number(document.getElementById('queue-count')?.textContent) > n, before, { timeout: 30000 })
    .catch(() => {});
  seen.live = { before, after: Number(await text('#queue-count')), reloads: navigations.length };

  // The browser keeps nothing in its storage.
  seen.local_storage = await page.evaluate(() => Object.keys(localStorage).length);
}

async function xss() {
  const [idsFile] = rest;
  const { events: ids, alerts: commented, users } = JSON.parse(readFileSync(idsFile, 'utf8'));
  await login();
  const injected = async where => {
    const n = await page.evaluate(() => document.querySelectorAll('[data-xss], [data-xss-hx]').length);
    if (n) seen.injected.push(`${where}: ${n}`);
  };
  seen.injected = [];
  seen.shown_as_text = 0;
  const marker = async () => {
    const t = await page.evaluate(() => document.body.innerText);
    if (t.includes('data-xss')) seen.shown_as_text += 1;
  };
  await page.waitForTimeout(300);
  await injected('queue');
  await marker();
  await capture('xss-queue');
  const alerts = await page.locator('#queue [data-alert]').evaluateAll(rs => rs.map(r => r.dataset.alert));
  seen.alerts = alerts.length;
  if (!alerts.length) seen.queue_text = (await text('main')).slice(0, 600);
  // The first alerts of each rule title (the queue is sorted by severity
  // then time; every alert here holds payloads).
  for (const id of [...commented, ...alerts.slice(0, 15)]) {
    await page.goto(url + '/console/alerts/' + id);
    await page.waitForTimeout(100);
    await injected('alert ' + id);
    await marker();
  }
  await capture('xss-alert');
  const searches = ['event.action:xss-probe', 'event.action:xss-probe | count by user.name', 'event.action:xss-probe | top message 200'];
  for (const q of searches) {
    for (const p of [0, 1, 2]) {
      await page.goto(url + '/console/search?since=1h&page=' + p + '&q=' + encodeURIComponent(q));
      await page.waitForSelector('#histogram-body svg, #histogram-error', { timeout: 10000 }).catch(() => {});
      await injected('search ' + q + ' page ' + p);
      await marker();
    }
  }
  // The field sidebar lists payload field names and values; a saved
  // search is named by a payload.
  await page.goto(url + '/console/search?since=1h&q=' + encodeURIComponent('event.action:xss-probe'));
  seen.sidebar_fields = await page.locator('#side-fields summary').count();
  await page.fill('#search-name', '"><img src=x data-xss onerror=alert(1)>');
  await page.click('#save-search button');
  await page.waitForFunction(() => document.activeElement?.id === 'saved-flash');
  await page.goto(url + '/console/search');
  seen.payload_searches = await page.locator('#saved .saved-search').count();
  await injected('saved search');
  await marker();
  await capture('xss-search');
  for (const id of ids) {
    await page.goto(url + '/console/events/' + encodeURIComponent(id));
    await injected('event ' + id);
    await marker();
  }
  await capture('xss-event');
  // The rules view lists every rule title, and its silences.
  await page.goto(url + '/console/rules');
  await injected('rules');
  await marker();
  seen.rules_titles = await page.locator('#rules .title').count();
  await capture('xss-rules');
  // The entity timeline of users whose names are payloads.
  seen.entity_items = 0;
  seen.entity_charts = 0;
  for (const u of users) {
    await page.goto(url + '/console/entity?kind=user&since=1h&value=' + encodeURIComponent(u));
    await injected('entity ' + u);
    await marker();
    seen.entity_items += await page.locator('#timeline li').count();
    seen.entity_charts += await page.locator('#entity-chart').count();
  }
  await capture('xss-entity');
  // Grouped by rule (payload titles) and by entity (payload user names),
  // and a saved view named by a payload.
  for (const g of ['rule', 'entity']) {
    await page.goto(url + '/console/alerts?group=' + g);
    await injected('queue grouped by ' + g);
    await marker();
  }
  seen.payload_groups = await page.locator('#queue .group-name').count();
  await page.fill('#view-name', '"><img src=x data-xss onerror=alert(1)>');
  await page.click('#save-view button');
  await page.waitForFunction(() => document.activeElement?.id === 'queue-flash');
  await page.goto(url + '/console/alerts');
  seen.payload_views = await page.locator('.views a.view').count();
  await injected('saved view');
  await capture('xss-grouped');
  // The payloads as queue filters, echoed back into the form.
  await page.goto(url + '/console/alerts?rule=' + encodeURIComponent('"><img src=x data-xss onerror=alert(1)>'));
  await injected('queue filter');
  await page.goto(url + '/console/rules?q=' + encodeURIComponent('"><img src=x data-xss onerror=alert(1)>'));
  await injected('rules filter');
  await page.goto(url + '/console/search?since=' + encodeURIComponent('"><svg data-xss onload=alert(1)>') + '&q=x');
  await injected('search error');
  await page.goto(url + '/console/alerts/' + encodeURIComponent('<img src=x data-xss onerror=alert(1)>'));
  await injected('not found');
}

async function search() {
  await login();
  await page.goto(url + '/console/search');
  await page.keyboard.press('/');
  await page.keyboard.type('event.action:export-probe');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('2h');
  await Promise.all([page.waitForURL(/q=event.action/), page.keyboard.press('Enter')]);
  const base = page.url();
  seen.matched = Number(await text('#matched'));
  await page.waitForSelector('#hist a');
  seen.bars = await page.locator('#hist a').count();
  seen.hist_matched = Number(await text('#hist-matched'));
  await capture('search-histogram');
  // Brush: drag with the mouse from the first bar with matches over the
  // next three; the range narrows to those buckets.
  const counts = (await page.locator('#hist a').evaluateAll(as => as.map(a => Number(a.dataset.n))));
  const first = counts.findIndex(n => n > 0);
  const last = Math.min(first + 3, counts.length - 1);
  seen.brushed_expected = counts.slice(first, last + 1).reduce((a, b) => a + b, 0);
  const box = await page.locator('#hist').boundingBox();
  const xOf = i => box.x + (i + 0.5) * box.width / counts.length;
  await page.mouse.move(xOf(first), box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(xOf(last), box.y + box.height / 2, { steps: 8 });
  await Promise.all([page.waitForURL(/until=20/), page.mouse.up()]);
  seen.brushed_url = new URL(page.url()).search;
  seen.brushed_matched = Number(await text('#matched'));
  await page.waitForSelector('#hist a');
  seen.brushed_hist_matched = Number(await text('#hist-matched'));
  // A bar's link from the keyboard: Tab to it, Enter.
  const nowCounts = await page.locator('#hist a').evaluateAll(as => as.map(a => Number(a.dataset.n)));
  const bar = page.locator('#hist a').nth(Math.max(0, nowCounts.findIndex(n => n > 0)));
  await bar.focus();
  const barCount = Number(await bar.getAttribute('data-n'));
  const brushedAt = page.url();
  await Promise.all([page.waitForURL(u => u.toString() !== brushedAt), page.keyboard.press('Enter')]);
  seen.bar_key = { expected: barCount, matched: Number(await text('#matched')) };
  // The sidebar: filter in a value from the keyboard.
  await page.goto(base);
  await page.locator('#side-fields summary', { hasText: 'user.name' }).focus();
  await page.keyboard.press('Enter');
  await page.locator('a[aria-label="Only user.name ana"]').focus();
  await Promise.all([page.waitForURL(/user.name/), page.keyboard.press('Enter')]);
  seen.filtered_q = new URL(page.url()).searchParams.get('q');
  seen.filtered_matched = Number(await text('#matched'));
  seen.filtered_users = await page.locator('#side-fields details').filter({ hasText: 'user.name' }).locator('li .v').allTextContents();
  await capture('search-filtered');
  // Save it, from the keyboard; it is listed.
  await page.locator('#search-name').focus();
  await page.keyboard.type('ana probes');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => ['saved-flash', 'saved-error'].includes(document.activeElement?.id));
  seen.saved_flash = await text('#saved-flash');
  await page.goto(url + '/console/search');
  seen.saved = await page.locator('#saved .saved-search').allTextContents();
  await capture('search-saved');
  // Open an event from the results from the keyboard.
  await page.goto(base);
  await page.locator('.hits a.title').first().focus();
  await Promise.all([page.waitForURL(/\/console\/events\//), page.keyboard.press('Enter')]);
  seen.event_fields = await page.locator('#fields dt').allTextContents();
  // Field names complete in the query box: type a prefix, ↓, Enter.
  await page.goto(url + '/console/search?since=2h&q=');
  await page.keyboard.press('/');
  await page.keyboard.type('event.action:export-probe AND user.na');
  seen.completions = await page.locator('#q-fields [role=option]').allTextContents();
  seen.completion_expanded = await page.locator('#q').getAttribute('aria-expanded');
  await capture('search-completion');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  seen.completed = await page.locator('#q').inputValue();
  await page.keyboard.type('ana');
  await Promise.all([page.waitForURL(/user.name%3Aana/), page.keyboard.press('Enter')]);
  seen.completed_matched = Number(await text('#matched'));
  seen.local_storage = await page.evaluate(() => Object.keys(localStorage).length);
  // Leaving a search whose histogram is still loading aborts it at once:
  // with both the histogram's answer and the next page held back, it is
  // aborted while the next page is still on its way (the browser alone
  // aborts it only when that page arrives, and the server would go on
  // counting meanwhile).
  let histogramAborted = false;
  const onFailed = r => { if (r.url().includes('/console/search/histogram')) histogramAborted = true; };
  await page.route('**/console/search/histogram*', () => {});
  await page.goto(base);
  await page.waitForSelector('#histogram.htmx-request');
  page.on('requestfailed', onFailed);
  await page.route('**/console/rules', async route => {
    for (let i = 0; i < 100 && !histogramAborted; i++) await new Promise(r => setTimeout(r, 100));
    seen.histogram_aborted_before_next_page = histogramAborted;
    await route.continue();
  });
  await page.goto(url + '/console/rules');
  page.off('requestfailed', onFailed);
  await page.unroute('**/console/rules');
  await page.unroute('**/console/search/histogram*');
}

async function bulk() {
  const [ruleId] = rest;
  await login();
  await page.goto(url + '/console/alerts?group=rule');
  seen.rule_groups = await page.locator('#queue .group-name .text').allTextContents();
  await capture('queue-grouped');
  await page.goto(url + '/console/alerts?group=entity');
  seen.entity_groups = await page.locator('#queue .group-name .text').allTextContents();

  // Keyboard: select the first two alerts of the rule, close them as
  // false positives with a reason.
  await page.goto(url + '/console/alerts?sort=newest&rule=' + encodeURIComponent(ruleId));
  await page.keyboard.press('x');
  await page.keyboard.press('j');
  await page.keyboard.press('x');
  seen.picked = Number(await text('#picked'));
  await page.keyboard.press('c');
  seen.focus_after_c = await page.evaluate(() => document.activeElement?.id);
  await page.keyboard.type('False');
  await page.keyboard.press('Tab');
  await page.keyboard.type('lab accounts, password rotation test');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'queue-flash' || document.activeElement?.id === 'queue-error');
  seen.selected_flash = await text('#queue-flash');
  seen.selected_error = await text('#queue-error');
  await capture('queue-bulk');

  // By query: every alert the filter matches; the reason is required.
  await page.check('#scope-query');
  await page.selectOption('#bulk-action', 'close');
  await page.selectOption('#bulk-resolution', 'benign');
  await page.click('#bulk-go');
  await page.waitForFunction(() => document.activeElement?.id === 'queue-error');
  seen.no_reason = await text('#queue-error');
  await page.check('#scope-query');
  await page.selectOption('#bulk-action', 'close');
  await page.selectOption('#bulk-resolution', 'benign');
  await page.fill('#bulk-reason', 'approved load test');
  await page.click('#bulk-go');
  await page.waitForFunction(() => document.activeElement?.id === 'queue-flash');
  seen.query_flash = await text('#queue-flash');

  // A saved view, kept on the server.
  await page.fill('#view-name', 'brute force, newest');
  await page.click('#save-view button');
  await page.waitForFunction(() => document.activeElement?.id === 'queue-flash');
  await page.goto(url + '/console/alerts');
  seen.views = await page.locator('.views a.view').allTextContents();
  await Promise.all([page.waitForURL(/rule=/), page.locator('.views a.view').first().click()]);
  seen.view_url = new URL(page.url()).search;

  // Theme and density: chosen, kept on the server across a reload.
  await Promise.all([
    page.waitForResponse(r => r.url().endsWith('/console/prefs') && r.status() === 204),
    page.selectOption('#pref-theme', 'dark'),
  ]);
  seen.theme_now = await page.evaluate(() => document.documentElement.dataset.theme);
  await Promise.all([
    page.waitForResponse(r => r.url().endsWith('/console/prefs') && r.status() === 204),
    page.selectOption('#pref-density', 'compact'),
  ]);
  await page.emulateMedia({ colorScheme: 'light' });
  await page.reload();
  seen.theme_after_reload = await page.evaluate(() => document.documentElement.dataset.theme);
  seen.density_after_reload = await page.evaluate(() => document.documentElement.dataset.density);
  seen.background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await capture('queue-dark-compact');
  await page.goto(url + '/console/search');
  await capture('search-dark-compact');
  seen.local_storage = await page.evaluate(() => Object.keys(localStorage).length);
}

try {
  if (mode === 'triage') await triage();
  else if (mode === 'xss') await xss();
  else if (mode === 'bulk') await bulk();
  else if (mode === 'search') await search();
  else throw new Error('mode must be triage, xss, bulk or search');
} catch (e) {
  seen.error = String(e && e.stack || e);
  seen.error_url = page.url();
  seen.error_page = (await page.content().catch(() => '')).slice(0, 4000);
  seen.error_main = (await page.locator('main').innerText().catch(() => '')).slice(0, 3000);
  seen.error_focus = await page.evaluate(() => document.activeElement?.id).catch(() => null);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
