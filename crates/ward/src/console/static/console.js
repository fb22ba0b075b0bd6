// Ward console: keyboard shortcuts, the CSRF token on every change, live
// updates of the alert queue (server-sent events). The pages work without
// it for reading; changes need it (they carry the session's CSRF token).
(() => {
  'use strict';
  const csrf = () => document.querySelector('meta[name="ward-csrf"]')?.content || '';
  const $ = s => document.querySelector(s);

  document.addEventListener('htmx:configRequest', e => {
    const t = csrf();
    if (t) e.detail.headers['X-CSRF-Token'] = t;
  });
  // After an action the alert page is replaced: the focus goes to what
  // the action said (htmx would put it back in the form's field).
  document.addEventListener('htmx:afterSettle', e => {
    const id = e.detail.target && e.detail.target.id;
    if (id === 'alert') {
      const to = $('#action-error') || $('#flash') || $('#alert-title');
      to?.setAttribute('tabindex', '-1');
      to?.focus();
    } else if (id === 'queue-area') {
      startQueue();
      ($('#queue-error') || $('#queue-flash'))?.focus();
    } else if (id === 'saved') {
      ($('#saved-error') || $('#saved-flash'))?.focus();
    }
  });

  // Field names complete in the query box (an ARIA combobox): the word
  // before the caret, while it has no ':', is matched against the names
  // the page lists; ↓/↑ choose, Enter or Tab takes one, Escape closes.
  const fieldBox = () => $('#q-fields');
  let options = [], active = -1;
  function wordAt(q) {
    const end = q.selectionStart ?? q.value.length;
    let start = end;
    while (start > 0 && !/[\s()]/.test(q.value[start - 1])) start--;
    return { start, end, word: q.value.slice(start, end) };
  }
  function closeFields() {
    const box = fieldBox(), q = $('#q');
    if (box) { box.hidden = true; box.replaceChildren(); }
    if (q) { q.setAttribute('aria-expanded', 'false'); q.removeAttribute('aria-activedescendant'); }
    options = []; active = -1;
  }
  function showFields() {
    const q = $('#q'), box = fieldBox();
    if (!q || !box) return;
    const { word } = wordAt(q);
    let names = [];
    try { names = JSON.parse(q.dataset.fields || '[]'); } catch (_) { names = []; }
    const w = word.replace(/^-/, '').toLowerCase();
    options = w && !w.includes(':') ? names.filter(n => n.toLowerCase().startsWith(w) && n.toLowerCase() !== w).slice(0, 8) : [];
    active = -1;
    if (!options.length) { closeFields(); return; }
    box.replaceChildren(...options.map((n, i) => {
      const li = document.createElement('li');
      li.id = 'q-opt-' + i;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      li.textContent = n;
      return li;
    }));
    box.hidden = false;
    q.setAttribute('aria-expanded', 'true');
  }
  function pick(i) {
    active = i;
    const q = $('#q');
    [...(fieldBox()?.children || [])].forEach((li, n) => li.setAttribute('aria-selected', String(n === i)));
    if (q && i >= 0) q.setAttribute('aria-activedescendant', 'q-opt-' + i);
  }
  function take(i) {
    const q = $('#q');
    if (!q || i < 0 || i >= options.length) return;
    const { start, end, word } = wordAt(q);
    const neg = word.startsWith('-') ? '-' : '';
    const put = neg + options[i] + ':';
    q.value = q.value.slice(0, start) + put + q.value.slice(end);
    q.setSelectionRange(start + put.length, start + put.length);
    closeFields();
  }
  document.addEventListener('input', e => { if (e.target.id === 'q') showFields(); });
  document.addEventListener('focusout', e => { if (e.target.id === 'q') setTimeout(closeFields, 150); });
  document.addEventListener('mousedown', e => {
    const li = e.target.closest && e.target.closest('#q-fields li');
    if (li) { e.preventDefault(); take(Number(li.id.slice(6))); }
  });
  document.addEventListener('keydown', e => {
    if (e.target.id !== 'q' || !options.length) return;
    if (e.key === 'ArrowDown') pick((active + 1) % options.length);
    else if (e.key === 'ArrowUp') pick((active - 1 + options.length) % options.length);
    else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) take(active);
    else if (e.key === 'Escape') closeFields();
    else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);

  // The search histogram: dragging across bars narrows the time range to
  // the buckets dragged over (a plain click follows the bar's own link).
  let brush = null, brushed = false;
  const barAt = (svg, clientX) => {
    const r = svg.getBoundingClientRect(), n = Number(svg.dataset.bars);
    return Math.max(0, Math.min(n - 1, Math.floor((clientX - r.left) / r.width * n)));
  };
  function drawBrush(svg, a, b) {
    const el = svg.querySelector('#brush');
    if (!el) return;
    el.setAttribute('x', String(Math.min(a, b) * 10));
    el.setAttribute('width', String((Math.abs(b - a) + 1) * 10));
  }
  document.addEventListener('pointerdown', e => {
    const svg = e.target.closest && e.target.closest('svg.hist');
    if (!svg || e.button !== 0) return;
    brush = { svg, from: barAt(svg, e.clientX), to: null, x: e.clientX };
  });
  document.addEventListener('pointermove', e => {
    if (!brush || Math.abs(e.clientX - brush.x) < 4) return;
    brush.to = barAt(brush.svg, e.clientX);
    drawBrush(brush.svg, brush.from, brush.to);
  });
  document.addEventListener('pointerup', e => {
    if (!brush) return;
    const b = brush;
    brush = null;
    if (b.to === null) return;
    b.to = barAt(b.svg, e.clientX);
    const start = Number(b.svg.dataset.from), w = Number(b.svg.dataset.width);
    const lo = Math.min(b.from, b.to), hi = Math.max(b.from, b.to);
    const u = new URL(b.svg.dataset.base, location.href);
    u.searchParams.set('since', new Date(start + lo * w).toISOString());
    u.searchParams.set('until', new Date(start + (hi + 1) * w - 1).toISOString());
    brushed = true;
    location.href = u.pathname + u.search;
  });
  // The click that ends a drag does not follow the bar under it.
  document.addEventListener('click', e => {
    if (brushed && e.target.closest && e.target.closest('svg.hist')) e.preventDefault();
    brushed = false;
  }, true);
  // The theme and density apply at once; the server keeps them.
  document.addEventListener('change', e => {
    const t = e.target;
    if (t.id === 'pref-theme') document.documentElement.dataset.theme = t.value;
    else if (t.id === 'pref-density') document.documentElement.dataset.density = t.value;
    else if (t.classList && t.classList.contains('pick')) countPicked();
  });

  // SLA deadlines count down in the page (the server's text is the start).
  function span(s) {
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
  }
  function tick() {
    const now = Math.floor(Date.now() / 1000);
    for (const el of document.querySelectorAll('.sla[data-due]')) {
      const left = Number(el.dataset.due) - now, what = el.dataset.what;
      el.textContent = left < 0 ? `${what} overdue by ${span(-left)}` : `${what} due in ${span(left)}`;
      el.classList.toggle('sla-overdue', left < 0);
      el.classList.toggle('sla-soon', left >= 0 && left < 900);
      el.classList.toggle('sla-ok', left >= 900);
    }
  }
  setInterval(tick, 1000);

  async function post(url) {
    return fetch(url, { method: 'POST', headers: { 'X-CSRF-Token': csrf() }, credentials: 'same-origin' });
  }

  document.addEventListener('click', async e => {
    if (e.target.closest('#logout')) {
      await post('/api/v1/logout');
      location.href = '/login';
    } else if (e.target.closest('#help-open')) {
      $('#help')?.showModal();
    }
  });

  // The queue: a current row (j/k), selected rows (x).
  const rows = () => [...document.querySelectorAll('#queue [data-alert]')];
  let currentId = null;
  function setCurrent(i) {
    const all = rows();
    if (!all.length) return;
    i = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((r, n) => r.classList.toggle('current', n === i));
    currentId = all[i].dataset.alert;
    all[i].querySelector('a.title')?.focus();
    all[i].scrollIntoView({ block: 'nearest' });
  }
  function currentIndex() {
    return rows().findIndex(r => r.dataset.alert === currentId);
  }
  function restoreCurrent() {
    const i = currentIndex();
    if (i >= 0) rows()[i].classList.add('current');
  }
  // Replaces the queue with a fresh copy of this page's; an error answer
  // leaves the queue as it is.
  let refreshing = false;
  async function refreshQueue() {
    if (!$('#queue') || refreshing) return;
    refreshing = true;
    try {
      const r = await fetch(location.pathname + location.search, { credentials: 'same-origin' });
      if (!r.ok) return;
      const fresh = new DOMParser().parseFromString(await r.text(), 'text/html').getElementById('queue');
      const old = $('#queue');
      if (fresh && old) {
        const picked = new Set(rows().filter(x => x.querySelector('.pick')?.checked).map(x => x.dataset.alert));
        old.replaceWith(document.adoptNode(fresh));
        rows().forEach(x => { if (picked.has(x.dataset.alert)) x.querySelector('.pick').checked = true; });
        restoreCurrent();
        countPicked();
        tick();
        // A bulk action by query covers what the page now counts.
        const n = $('#queue-count')?.textContent || '0';
        const m = $('#bulk input[name=matched]');
        if (m) m.value = n;
        const t = $('#bulk-total');
        if (t) t.textContent = n;
      }
    } catch (_) {
      // The next change tries again.
    } finally {
      refreshing = false;
    }
  }
  function countPicked() {
    const n = rows().filter(r => r.querySelector('.pick')?.checked).length;
    const el = $('#picked');
    if (el) el.textContent = String(n);
    return n;
  }
  async function ackQueue() {
    const picked = rows().filter(r => r.querySelector('.pick')?.checked).map(r => r.dataset.alert);
    const ids = picked.length ? picked : (currentId ? [currentId] : []);
    for (const id of ids) await post('/console/alerts/' + encodeURIComponent(id) + '/ack');
    refreshQueue();
  }

  const typing = t => t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  const focusField = sel => { const el = $(sel); if (el && !el.disabled) { el.focus(); return true; } return false; };

  document.addEventListener('keydown', e => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) {
      if (e.key === 'Escape') e.target.blur();
      return;
    }
    if ($('#help')?.open) return;
    const onQueue = !!$('#queue');
    const onAlert = !!$('#alert');
    let done = true;
    switch (e.key) {
      case '?': $('#help')?.showModal(); break;
      case '/': if (!focusField('#q')) location.href = '/console/search'; break;
      case 'u': location.href = '/console/alerts'; break;
      case 'r': location.href = '/console/rules'; break;
      case 'e': location.href = '/console/entity'; break;
      case 'j': if (onQueue) setCurrent(currentIndex() + 1); else done = false; break;
      case 'k': if (onQueue) setCurrent(currentIndex() - 1); else done = false; break;
      case 'Enter':
        if (onQueue && currentId && !(e.target.closest && e.target.closest('a'))) {
          location.href = '/console/alerts/' + encodeURIComponent(currentId);
        } else done = false;
        break;
      case 'x':
        if (onQueue && currentId) {
          const box = rows()[currentIndex()]?.querySelector('.pick');
          if (box) box.checked = !box.checked;
          countPicked();
        } else done = false;
        break;
      case 'a':
        if (onAlert) { const b = $('#ack'); if (b && !b.disabled) b.click(); }
        else if (onQueue) ackQueue();
        else done = false;
        break;
      case 'g': done = onQueue && focusField('#bulk-action'); break;
      case 'c':
        if (onAlert) focusField('#resolution');
        else if (onQueue && countPicked() && $('#bulk')) {
          $('#bulk-action').value = 'close';
          focusField('#bulk-resolution');
        }
        else if (onQueue && currentId) location.href = '/console/alerts/' + encodeURIComponent(currentId) + '#close';
        else done = false;
        break;
      case 'm': done = onAlert && focusField('#comment-text'); break;
      case 'n': done = onAlert && focusField('#assignee'); break;
      case 's': done = onAlert && focusField('#silence-duration'); break;
      default: done = false;
    }
    if (done) e.preventDefault();
  });

  function startQueue() {
    if (rows().length && currentIndex() < 0) currentId = rows()[0].dataset.alert;
    restoreCurrent();
    countPicked();
    tick();
  }
  function start() {
    if (location.hash === '#close') focusField('#resolution');
    tick();
    if ($('#queue')) {
      startQueue();
      if (window.EventSource) {
        const live = new EventSource('/console/live');
        live.addEventListener('alerts', refreshQueue);
      }
    }
  }
  // Leaving a page stops what it still loads (the search histogram, a
  // scan of the whole range): the browser itself would cancel it only when
  // the next page arrives, and the server would count for nobody while it
  // answers that page.
  window.addEventListener('beforeunload', () => {
    if (!window.htmx) return;
    document.querySelectorAll('.htmx-request').forEach(el => htmx.trigger(el, 'htmx:abort'));
  });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
