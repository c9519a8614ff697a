// fieldlog console: one page, no build step. The read token lives in this
// tab's sessionStorage and goes out only in the Authorization header; every
// view lives in the URL's hash, so the URL is always a permalink.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const ROW = 22;            // px per timeline row (fixed: the list is virtualised)
  const PAGE = 500;          // lines per page fetched as you scroll
  const EXPORT_MAX = 100000; // lines an export fetches at most
  const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

  const session = {
    get token() { return sessionStorage.getItem('fieldlog.token') || ''; },
    get app() { return sessionStorage.getItem('fieldlog.app') || ''; },
    save(token, app) {
      sessionStorage.setItem('fieldlog.token', token);
      sessionStorage.setItem('fieldlog.app', app);
    },
    clear() { sessionStorage.removeItem('fieldlog.token'); sessionStorage.removeItem('fieldlog.app'); },
  };

  // Timeline state: the lines loaded so far, in display order.
  let rows = [];          // {line} or {separator: text}
  let seen = new Set();   // device/seq of lines shown, so live lines are not repeated
  let cursor = '';
  let done = true;
  let loading = false;
  let selected = -1;
  let generation = 0;     // bumps when the view changes; stale fetches are dropped
  let tail = null;        // AbortController of the live tail
  let lastSession = new Map();
  let view = null;        // {kind: 'user'|'device', id, params: URLSearchParams}

  // ---------------------------------------------------------------- helpers

  function say(text) { $('status').textContent = text; }

  function apiUrl(path, params) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
      else if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
    }
    return url;
  }

  async function api(path, params) {
    const response = await fetch(apiUrl(path, params), {
      headers: { Authorization: 'Bearer ' + session.token },
    });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) {
      const error = new Error(body.error || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  const appPath = (rest) => `/api/v1/apps/${encodeURIComponent(session.app)}/${rest}`;
  const enc = encodeURIComponent;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // datetime-local (local time) <-> ISO in UTC.
  function toLocalInput(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  const fromLocalInput = (value) => (value ? new Date(value).toISOString() : '');
  const shortTime = (iso) => iso.replace('T', ' ').replace(/\.(\d{3})\d*Z$/, '.$1');

  // ------------------------------------------------------------------ views

  function route() {
    stopTail();
    const hash = location.hash.slice(1);
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    $('view-timeline').hidden = true;
    $('view-trends').hidden = true;
    if (parts[0] === 'trends') return showTrends(params);
    if ((parts[0] === 'user' || parts[0] === 'device') && parts[1]) {
      view = { kind: parts[0], id: parts[1], params };
      return showTimeline();
    }
    say('Search for a user (e-mail or id), a device, or paste an issue link.');
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function viewHash(params) {
    const query = params.toString();
    return `#/${view.kind}/${enc(view.id)}${query ? '?' + query : ''}`;
  }

  // The search for the current view and filters (a page starting at `after`).
  function searchParams(extra) {
    const p = view.params;
    const params = {
      level: p.get('level'), tag: p.get('tag'), session: p.get('session'),
      from: p.get('from'), to: p.get('to'), order: p.get('order'),
      device: view.kind === 'device' ? view.id : p.get('device'),
      user: view.kind === 'user' ? view.id : undefined,
    };
    if (p.get('text')) params[p.get('regex') === '1' ? 'regex' : 'text'] = p.get('text');
    return Object.assign(params, extra || {});
  }

  async function showTimeline() {
    $('view-timeline').hidden = false;
    const p = view.params;
    $('f-level').value = p.get('level') || '';
    $('f-text').value = p.get('text') || '';
    $('f-regex').checked = p.get('regex') === '1';
    $('f-tag').value = p.get('tag') || '';
    $('f-session').value = p.get('session') || '';
    $('f-from').value = toLocalInput(p.get('from'));
    $('f-to').value = toLocalInput(p.get('to'));
    $('f-order').value = p.get('order') || 'oldest';
    closeDetails();
    const mine = ++generation;
    await Promise.all([showSubject(mine), resetTimeline(mine), drawChart($('chart'), mine)]);
    const focus = p.get('seq');
    if (focus) selectLine(rows.findIndex((r) => r.line && String(r.line.seq) === focus), true);
  }

  async function showSubject(mine) {
    const subject = $('subject');
    const devices = $('devices');
    try {
      if (view.kind === 'user') {
        const body = await api(appPath('devices'), { user: view.id });
        if (mine !== generation) return;
        subject.replaceChildren(el('h2', {}, view.id, ' ',
          el('small', { class: 'hint' }, `· ${body.devices.length} device(s)`)));
        devices.replaceChildren(...body.devices.map(deviceCard));
        const select = $('f-device');
        select.replaceChildren(el('option', { value: '' }, 'all'),
          ...body.devices.map((d) => el('option', { value: d.device_id }, d.device_id)));
        select.value = view.params.get('device') || '';
        select.disabled = false;
      } else {
        const d = await api(appPath('devices/' + enc(view.id)));
        if (mine !== generation) return;
        subject.replaceChildren(el('h2', {}, 'Device ', view.id));
        const users = d.users.map((u) => el('li', {},
          el('a', { href: `#/user/${enc(u.user_id)}` }, u.user_id || '(signed out)'),
          ` · ${shortTime(u.first_seen)} – ${shortTime(u.last_seen)} · ${u.lines} lines`));
        devices.replaceChildren(deviceCard(d), el('div', { class: 'device' },
          el('b', {}, 'Users over time'), el('ul', {}, ...users)));
        $('f-device').disabled = true;
      }
    } catch (error) {
      if (mine === generation) say(error.message);
    }
  }

  function deviceCard(d) {
    const a = d.attributes || {};
    const facts = [a['device.model'], [a['os.name'], a['os.version']].filter(Boolean).join(' '),
                   a['app.version'] ? 'app ' + a['app.version'] : ''].filter(Boolean).join(' · ');
    return el('div', { class: 'device', role: 'group', 'aria-label': 'Device ' + d.device_id },
      el('b', {}, el('a', { href: `#/device/${enc(d.device_id)}` }, d.device_id)),
      el('small', {}, facts || 'no device facts'),
      el('small', {}, `first seen ${shortTime(d.first_seen)}`),
      el('small', {}, `last seen ${shortTime(d.last_seen)} · ${d.lines} lines`));
  }

  async function resetTimeline(mine) {
    rows = [];
    seen = new Set();
    lastSession = new Map();
    cursor = '';
    done = false;
    selected = -1;
    $('timeline').scrollTop = 0;
    render();
    await loadPage(mine);
  }

  async function loadPage(mine) {
    if (loading || done) return;
    loading = true;
    const started = performance.now();
    try {
      const body = await api(appPath('search'), searchParams({ limit: PAGE, cursor }));
      if (mine !== generation) return;
      addLines(body.lines, false);
      cursor = body.next_cursor || '';
      done = !cursor;
      const lines = rows.filter((r) => r.line).length;
      $('count').textContent = `${lines}${done ? '' : '+'} lines`;
      say(`Loaded ${body.lines.length} lines in ${Math.round(performance.now() - started)} ms.`);
    } catch (error) {
      if (mine === generation) say(error.message);
      done = true;
    } finally {
      loading = false;
    }
    render();
  }

  // Appends lines, with a separator where a device starts a new session.
  function addLines(lines, live) {
    for (const line of lines) {
      const key = line.device_id + '/' + line.seq;
      if (seen.has(key)) continue;
      seen.add(key);
      const previous = lastSession.get(line.device_id);
      if (previous !== undefined && previous !== line.session_id) {
        rows.push({ separator: `new session ${line.session_id || '(none)'} on ${line.device_id}` });
      }
      lastSession.set(line.device_id, line.session_id);
      rows.push({ line, live });
    }
  }

  function render() {
    const timeline = $('timeline');
    const space = $('timeline-space');
    space.style.height = rows.length * ROW + 'px';
    const top = timeline.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - 20);
    const last = Math.min(rows.length, Math.ceil((top + timeline.clientHeight) / ROW) + 20);
    const nodes = [];
    for (let i = first; i < last; ++i) nodes.push(rowNode(rows[i], i));
    space.replaceChildren(...nodes);
    if (!done && !loading && last >= rows.length - 100) loadPage(generation);
  }

  function rowNode(row, index) {
    if (row.separator) {
      return el('div', { class: 'row session', style: `top:${index * ROW}px`, role: 'separator' },
        '— ', row.separator, ' —');
    }
    const line = row.line;
    const marker = line.kind && line.kind !== 'log';
    const node = el('div', {
      class: `row${marker ? ' marker' : ''}${row.live ? ' new' : ''}`,
      style: `top:${index * ROW}px`,
      role: 'option',
      id: 'row-' + index,
      'aria-selected': String(index === selected),
      'data-level': line.level,
      onclick: () => selectLine(index, true),
    },
      el('span', { class: 't' }, shortTime(line.time)), ' ',
      el('span', { class: 'lv lv-' + line.level }, line.level.toUpperCase()), ' ',
      el('span', { class: 'dev' }, line.device_id.slice(0, 12)), ' ',
      marker ? el('strong', {}, `⚑ ${line.kind.toUpperCase()} `) : '',
      el('span', { class: 'tag' }, line.tag || '-'), ' ',
      line.message);
    node.title = line.message;
    return node;
  }

  function selectLine(index, open) {
    if (index < 0 || index >= rows.length) return;
    selected = index;
    const timeline = $('timeline');
    if (index * ROW < timeline.scrollTop || (index + 1) * ROW > timeline.scrollTop + timeline.clientHeight) {
      timeline.scrollTop = Math.max(0, index * ROW - timeline.clientHeight / 2);
    }
    timeline.setAttribute('aria-activedescendant', 'row-' + index);
    render();
    if (open && rows[index].line) showDetails(rows[index].line);
  }

  function showDetails(line) {
    const fields = [
      ['time (corrected)', line.time], ['device time', line.device_time],
      ['received', line.receive_time], ['level', line.level], ['kind', line.kind],
      ['tag', line.tag], ['message', line.message], ['device', line.device_id],
      ['user', line.user_id], ['session', line.session_id], ['seq', line.seq],
      ['source', line.file ? `${line.file}:${line.line}` : ''], ['function', line.function || ''],
    ];
    for (const [key, value] of Object.entries(line.attributes || {})) fields.push(['@' + key, JSON.stringify(value)]);
    $('details-list').replaceChildren(...fields.filter(([, v]) => v !== '' && v !== undefined)
      .flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    $('details').hidden = false;
  }

  function closeDetails() { $('details').hidden = true; }

  // Bars of line counts by level; clicking one narrows the view to it.
  async function drawChart(container, mine, scope) {
    const params = scope || {};
    if (!scope) {
      Object.assign(params, { user: view.kind === 'user' ? view.id : undefined,
        device: view.kind === 'device' ? view.id : view.params.get('device'),
        from: view.params.get('from'), to: view.params.get('to') });
    }
    const now = Date.now();
    const fromMs = params.from ? Date.parse(params.from) : now - 86400000;
    const toMs = params.to ? Date.parse(params.to) : now;
    params.interval = Math.max(1, Math.round((toMs - fromMs) / 1000 / 48));
    try {
      const stats = await api(appPath('stats'), params);
      if (mine !== undefined && mine !== generation) return stats;
      const totals = stats.buckets.map((b) => LEVELS.reduce((sum, l) => sum + b.levels[l], 0));
      const busiest = Math.max(1, ...totals);
      container.replaceChildren(...stats.buckets.map((bucket, i) => {
        const start = new Date(bucket.start_us / 1000);
        const end = new Date((bucket.start_us + stats.interval_us) / 1000);
        const label = `${start.toISOString()}: ${totals[i]} lines, ${bucket.levels.error + bucket.levels.fatal} errors`;
        return el('button', {
          type: 'button', title: label, 'aria-label': label,
          onclick: () => {
            if (!view || scope) return;
            const p = new URLSearchParams(view.params);
            p.set('from', start.toISOString());
            p.set('to', end.toISOString());
            go(viewHash(p));
          },
        }, ...LEVELS.filter((l) => bucket.levels[l] > 0).map((l) => el('span', {
          style: `height:${(bucket.levels[l] / busiest) * 100}%;background:var(--${l})`,
        })));
      }));
      return stats;
    } catch (error) {
      say(error.message);
      return null;
    }
  }

  // ---------------------------------------------------------------- live tail

  async function startTail() {
    stopTail();
    const controller = new AbortController();
    tail = controller;
    $('tail').setAttribute('aria-pressed', 'true');
    const mine = generation;
    // Like tail -f: the newest page at the bottom, then what arrives.
    try {
      const newest = await api(appPath('search'), searchParams({ limit: PAGE, order: 'newest', from: '', to: '' }));
      if (mine !== generation) return;
      rows = [];
      seen = new Set();
      lastSession = new Map();
      addLines(newest.lines.reverse(), false);
      done = true;
      render();
      $('timeline').scrollTop = rows.length * ROW;
    } catch (error) {
      say(error.message);
    }
    const params = searchParams({ backlog: 1 });
    delete params.from;
    delete params.to;
    delete params.order;
    say('Live tail: new lines appear at the bottom as they arrive.');
    try {
      const response = await fetch(apiUrl(appPath('tail'), params), {
        headers: { Authorization: 'Bearer ' + session.token }, signal: controller.signal,
      });
      if (!response.ok) throw new Error((await response.json()).error);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').find((l) => l.startsWith('data: '));
          if (!data || mine !== generation) continue;
          const timeline = $('timeline');
          const atEnd = timeline.scrollTop + timeline.clientHeight >= rows.length * ROW - 2 * ROW;
          addLines(JSON.parse(data.slice(6)).lines, true);
          $('count').textContent = `${rows.filter((r) => r.line).length} lines`;
          render();
          if (atEnd) timeline.scrollTop = rows.length * ROW;
        }
      }
    } catch (error) {
      if (error.name !== 'AbortError') say('Live tail stopped: ' + error.message);
    }
    if (tail === controller) stopTail();
  }

  function stopTail() {
    if (tail) tail.abort();
    tail = null;
    $('tail').setAttribute('aria-pressed', 'false');
  }

  // ------------------------------------------------------------------ export

  async function exportView(format) {
    const mine = generation;
    while (!done && rows.length < EXPORT_MAX && mine === generation) {
      say(`Fetching all lines for the export… ${rows.length}`);
      await loadPage(mine);
    }
    const lines = rows.filter((r) => r.line).map((r) => r.line);
    let text;
    if (format === 'jsonl') {
      text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
    } else {
      const cells = ['time', 'level', 'device_id', 'user_id', 'session_id', 'seq', 'tag', 'message'];
      const quote = (v) => `"${String(v ?? '').replace(/"/g, '""')}"`;
      text = [cells.join(','), ...lines.map((l) => cells.map((c) => quote(l[c])).join(','))].join('\n') + '\n';
    }
    const blob = new Blob([text], { type: format === 'jsonl' ? 'application/x-ndjson' : 'text/csv' });
    const link = el('a', { href: URL.createObjectURL(blob), download: `fieldlog-${view.kind}-${view.id}.${format === 'jsonl' ? 'jsonl' : 'csv'}` });
    document.body.append(link);
    link.click();
    link.remove();
    say(`Exported ${lines.length} lines.`);
  }

  // ------------------------------------------------------------------ trends

  async function showTrends(params) {
    $('view-trends').hidden = false;
    const since = Number(params.get('since') || $('t-since').value);
    $('t-since').value = String(since);
    const mine = ++generation;
    const to = new Date();
    const from = new Date(to.getTime() - since * 1000);
    const stats = await drawChart($('t-chart'), mine, { from: from.toISOString(), to: to.toISOString() });
    if (!stats || mine !== generation) return;
    const change = (now, before) => {
      if (!before) return now ? el('span', { class: 'up' }, 'new') : '';
      const pct = Math.round(((now - before) * 100) / before);
      return el('span', { class: pct > 0 ? 'up' : 'down' }, (pct > 0 ? '+' : '') + pct + '%');
    };
    $('t-levels').replaceChildren(
      el('tr', {}, el('th', {}, 'level'), el('th', { class: 'num' }, 'lines'), el('th', { class: 'num' }, 'before'), el('th', {}, 'change')),
      ...LEVELS.slice().reverse().map((l) => el('tr', {}, el('td', { class: 'lv-' + l }, l),
        el('td', { class: 'num' }, stats.levels[l]), el('td', { class: 'num' }, stats.previous_levels[l]),
        el('td', {}, change(stats.levels[l], stats.previous_levels[l])))));
    const tags = stats.tags.slice().sort((a, b) => (b.errors + 1) / (b.previous_errors + 1) - (a.errors + 1) / (a.previous_errors + 1));
    $('t-tags').replaceChildren(
      el('tr', {}, el('th', {}, 'tag'), el('th', { class: 'num' }, 'lines'), el('th', { class: 'num' }, 'errors'),
        el('th', { class: 'num' }, 'errors before'), el('th', {}, 'change')),
      ...tags.map((t) => el('tr', {}, el('td', {}, t.tag || '-'), el('td', { class: 'num' }, t.lines),
        el('td', { class: 'num' }, t.errors), el('td', { class: 'num' }, t.previous_errors),
        el('td', {}, change(t.errors, t.previous_errors)))));
  }

  async function findAffected() {
    const text = $('a-text').value.trim();
    if (!text) return;
    const since = Number($('t-since').value);
    const params = { from: new Date(Date.now() - since * 1000).toISOString(), limit: 50 };
    params[$('a-regex').checked ? 'regex' : 'text'] = text;
    try {
      const body = await api(appPath('affected'), params);
      $('a-summary').textContent = `${body.matching_lines} matching lines from ${body.total_users} users on ${body.total_devices} devices (${body.scanned_lines} lines scanned).`;
      $('a-users').replaceChildren(
        el('tr', {}, el('th', {}, 'user'), el('th', { class: 'num' }, 'lines'), el('th', { class: 'num' }, 'devices'), el('th', {}, 'last')),
        ...body.users.map((u) => el('tr', {},
          el('td', {}, el('a', { href: `#/user/${enc(u.user_id)}?text=${enc(text)}${$('a-regex').checked ? '&regex=1' : ''}` }, u.user_id)),
          el('td', { class: 'num' }, u.lines), el('td', { class: 'num' }, u.devices), el('td', {}, shortTime(u.last)))));
    } catch (error) {
      say(error.message);
    }
  }

  // ------------------------------------------------------------------ search

  async function openSearch(query) {
    query = query.trim();
    if (!query) return;
    const link = query.match(/\/i\/([^/?#]+)\/(\d+)/);
    if (link) return openIssueLink(decodeURIComponent(link[1]), link[2]);
    try {
      const devices = await api(appPath('devices'), { user: query });
      if (devices.devices.length) return go(`#/user/${enc(query)}`);
      try {
        await api(appPath('devices/' + enc(query)));
        return go(`#/device/${enc(query)}`);
      } catch (error) {
        if (error.status !== 404) throw error;
      }
      const prefix = query.includes('@') ? query.slice(0, query.indexOf('@')) : query;
      const similar = await api(appPath('users'), { prefix: prefix.slice(0, Math.max(3, prefix.length)), limit: 5 });
      const names = similar.users.map((u) => u.user_id);
      say(`No user or device '${query}' in ${session.app}.` + (names.length ? ` Users starting with '${prefix}': ${names.join(', ')}` : ''));
    } catch (error) {
      say(error.message);
    }
  }

  // An issue link names a device and a line: open the device around it.
  async function openIssueLink(device, seq) {
    try {
      const line = await api(appPath(`lines/${enc(device)}/${seq}`));
      const at = Date.parse(line.time);
      const params = new URLSearchParams({
        from: new Date(at - 15 * 60000).toISOString(),
        to: new Date(at + 5 * 60000).toISOString(),
        seq: String(seq),
      });
      history.replaceState(null, '', '/');
      go(`#/device/${enc(device)}?${params}`);
    } catch (error) {
      say(error.message);
    }
  }

  // --------------------------------------------------------------- sign-in

  async function signIn(token, app) {
    session.save(token, app);
    try {
      const who = await api('/api/v1/whoami', { app });
      session.save(token, who.app);
      $('signin').hidden = true;
      $('console').hidden = false;
      $('app-name').textContent = who.app;
      $('signin-error').textContent = '';
      const issue = location.pathname.match(/^\/i\/([^/]+)\/(\d+)$/);
      if (issue) return openIssueLink(decodeURIComponent(issue[1]), issue[2]);
      route();
    } catch (error) {
      session.clear();
      $('signin').hidden = false;
      $('console').hidden = true;
      $('signin-error').textContent = error.message;
    }
  }

  // ------------------------------------------------------------------ wiring

  $('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    signIn($('signin-token').value.trim(), $('signin-app').value.trim());
  });
  $('signout').addEventListener('click', () => {
    stopTail();
    session.clear();
    location.hash = '';
    location.reload();
  });
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    openSearch($('search').value);
  });
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    const p = new URLSearchParams();
    const set = (key, value) => { if (value) p.set(key, value); };
    set('level', $('f-level').value);
    set('text', $('f-text').value.trim());
    if ($('f-regex').checked && $('f-text').value.trim()) p.set('regex', '1');
    set('tag', $('f-tag').value.trim());
    if (view.kind === 'user') set('device', $('f-device').value);
    set('session', $('f-session').value.trim());
    set('from', fromLocalInput($('f-from').value));
    set('to', fromLocalInput($('f-to').value));
    if ($('f-order').value === 'newest') p.set('order', 'newest');
    go(viewHash(p));
  });
  $('timeline').addEventListener('scroll', () => requestAnimationFrame(render));
  $('timeline').addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'j') { selectLine(Math.min(rows.length - 1, selected + 1), false); event.preventDefault(); }
    if (event.key === 'ArrowUp' || event.key === 'k') { selectLine(Math.max(0, selected - 1), false); event.preventDefault(); }
    if (event.key === 'Enter' && rows[selected] && rows[selected].line) showDetails(rows[selected].line);
    if (event.key === 'Escape') closeDetails();
  });
  $('details-close').addEventListener('click', closeDetails);
  $('tail').addEventListener('click', () => (tail ? stopTail() : startTail()));
  $('export-jsonl').addEventListener('click', () => exportView('jsonl'));
  $('export-csv').addEventListener('click', () => exportView('csv'));
  $('permalink').addEventListener('click', async () => {
    // A permalink pins the time range, so it shows the same lines later.
    const p = new URLSearchParams(view.params);
    if (!p.get('to')) p.set('to', new Date().toISOString());
    if (!p.get('from')) p.set('from', new Date(Date.parse(p.get('to')) - 86400000).toISOString());
    history.replaceState(null, '', viewHash(p));
    view.params = p;
    try {
      await navigator.clipboard.writeText(location.href);
      say('Link copied: it reopens this view (after signing in).');
    } catch (error) {
      say('Link: ' + location.href);
    }
  });
  $('trends-form').addEventListener('submit', (event) => {
    event.preventDefault();
    go('#/trends?since=' + $('t-since').value);
  });
  $('affected-form').addEventListener('submit', (event) => {
    event.preventDefault();
    findAffected();
  });
  $('theme').addEventListener('click', () => {
    const order = ['', 'dark', 'light'];
    const next = order[(order.indexOf(localStorage.getItem('fieldlog.theme') || '') + 1) % 3];
    localStorage.setItem('fieldlog.theme', next);
    applyTheme();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === '/' && !['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName)) {
      event.preventDefault();
      $('search').focus();
    }
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', () => requestAnimationFrame(render));

  function applyTheme() {
    const theme = localStorage.getItem('fieldlog.theme') || '';
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }

  applyTheme();
  if (session.token) signIn(session.token, session.app);
  else $('signin').hidden = false;
})();
