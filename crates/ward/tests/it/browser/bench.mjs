// Page times of the console in Debian's chromium, from the browser's
// Navigation Timing (Performance API): for each view, `response` is from
// the request to the last byte of the page, `interactive` from the start of
// the navigation to DOMContentLoaded (scripts run, keys work). Prints JSON
// with the median and 95th percentile in milliseconds.
//   node bench.mjs <url> <user> <password> [loads per view]
import { chromium } from 'playwright-core';

const [url, user, password, n = '30'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
await page.goto(url + '/login');
await page.fill('input[name=name]', user);
await page.fill('input[name=password]', password);
await Promise.all([page.waitForURL(url + '/'), page.click('button[type=submit]')]);
const top = await page.locator('#queue [data-alert]').first().getAttribute('data-alert');
const rows = await page.locator('#queue [data-alert]').count();
const total = Number(await page.locator('#queue-count').textContent());
const views = {
  queue: '/console/alerts',
  queue_open_high: '/console/alerts?status=open&severity=high&sort=deadline',
  alert_detail: '/console/alerts/' + top,
  search: '/console/search?since=24h&q=' + encodeURIComponent('event.outcome:failure'),
  search_count_by: '/console/search?since=24h&q=' + encodeURIComponent('* | count by user.name'),
};
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const out = { alerts: total, queue_rows: rows, loads_per_view: Number(n), views: {} };
for (const [name, path] of Object.entries(views)) {
  const response = [], interactive = [];
  try {
    for (let i = 0; i < Number(n) + 2; i++) {
      await page.goto(url + path, { waitUntil: 'domcontentloaded', timeout: 120000 });
      const t = await page.evaluate(() => {
        const e = performance.getEntriesByType('navigation')[0];
        return { response: e.responseEnd - e.requestStart, interactive: e.domContentLoadedEventEnd - e.startTime };
      });
      if (i >= 2) { response.push(t.response); interactive.push(t.interactive); }
    }
    out.views[name] = {
      response_p50: Math.round(pct(response, 0.5)), response_p95: Math.round(pct(response, 0.95)),
      interactive_p50: Math.round(pct(interactive, 0.5)), interactive_p95: Math.round(pct(interactive, 0.95)),
    };
  } catch (e) {
    // A view that does not load in time is reported, not dropped.
    out.views[name] = { error: String(e.message || e).split('\n')[0], loads_done: response.length };
  }
  console.error(name, JSON.stringify(out.views[name]));
}
// The search histogram, which the search page fetches after it is shown:
// from the request to the last byte of the fragment.
const hist = [];
const histPath = '/console/search/histogram?since=24h&until=&q=' + encodeURIComponent('event.outcome:failure');
for (let i = 0; i < Number(n) + 2 && hist.length < Number(n); i++) {
  const t = await page.evaluate(async p => {
    const t0 = performance.now();
    const r = await fetch(p, { credentials: 'same-origin' });
    await r.text();
    return performance.now() - t0;
  }, histPath);
  if (i >= 2) hist.push(t);
}
out.views.search_histogram_fragment = {
  response_p50: Math.round(pct(hist, 0.5)), response_p95: Math.round(pct(hist, 0.95)),
};
await browser.close();
console.log(JSON.stringify(out, null, 1));
