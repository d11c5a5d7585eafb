// The AIS-Go web console: one page, routed by the URL's fragment
// (#/cluster, #/buckets, #/buckets/NAME, #/jobs, #/jobs/dsort/ID,
// #/metrics), over the gateway's public REST API on the same origin.
//
// Everything the server says is inserted as text (textContent, text
// nodes, attribute values), never parsed as markup: object and bucket
// names, error messages and job descriptions are data.
'use strict';

// ---------------------------------------------------------------- requests

// apiPath is where the page calls the REST API: under the console's own
// path, where the browser sends the console's login cookie (HttpOnly: no
// script here ever holds the token). The gateway turns a call of
// /console/api/v1/... into /v1/... with the cookie's token.
function apiPath(path) {
  return '/console/api' + path;
}

// consoleHeader is on every call: the gateway takes a change through
// /console/api/ only with it, which no other site's form can send.
const consoleHeader = 'AIS-Console';

// loginExpired offers to log in again after a 401: the login or its
// token ended (expired, revoked, logged out in another tab).
function loginExpired(message) {
  const status = document.getElementById('session');
  if (status) {
    status.replaceChildren(h('a', {href: '/console/', id: 'login-again', title: message}, 'Log in again'));
  }
}

// RequestError is a failed request: status 0 when the gateway did not
// answer, else the HTTP status, with the message of the JSON error body.
class RequestError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body || null;
  }
}

// readTimeout bounds a read (GET, HEAD; options.timeout another): a
// gateway that stops answering (its host gone, its process frozen) fails
// it, and the page says so, rather than hold the page's refresh for good.
// A change (an upload, an abort that waits for every target) takes as
// long as it does.
const readTimeout = 60000;

// call sends a request to the gateway and returns the response, or throws
// a RequestError for anything but a 2xx.
async function call(method, path, options = {}) {
  const url = new URL(apiPath(path), location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value !== undefined && value !== null && value !== '') {
      url.searchParams.set(key, String(value));
    }
  }
  const headers = new Headers(options.headers || {});
  headers.set(consoleHeader, '1');
  const init = {method, headers, cache: 'no-store', credentials: 'same-origin'};
  if (options.body !== undefined) {
    init.body = options.body;
  }
  // (options.timeout 0: none, for a read that takes as long as it does.)
  const timeout = options.timeout ?? (method === 'GET' || method === 'HEAD' ? readTimeout : 0);
  if (timeout) {
    init.signal = AbortSignal.timeout(timeout);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === 'TimeoutError') {
      const timedOut = new RequestError(0, `${method} ${path.split('?')[0]}: the gateway did not answer in ${timeout / 1000} s`);
      timedOut.timedOut = true;
      throw timedOut;
    }
    throw new RequestError(0, `${method} ${path}: the gateway does not answer (${err.message})`);
  }
  if (!response.ok) {
    const err = await requestError(method, path, response);
    if (response.status === 401) {
      loginExpired(err.message);
    }
    throw err;
  }
  return response;
}

// requestError reads AIS-Go's error body ({"message","status","kind",
// "node"}), or the Hdr-Error header that carries it on a HEAD.
async function requestError(method, path, response) {
  const text = await response.text().catch(() => '');
  let body = parseJSON(text) || parseJSON(response.headers.get('Hdr-Error') || '');
  let message = `${method} ${path.split('?')[0]}: ${response.status} ${response.statusText}`;
  if (body && typeof body.message === 'string') {
    message = body.message;
  } else if (text.trim() !== '') {
    message += `: ${text.trim().slice(0, 300)}`;
  }
  return new RequestError(response.status, message, body);
}

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function getJSON(path, query, headers, timeout) {
  const response = await call('GET', path, {query, headers, timeout});
  try {
    return await response.json();
  } catch (err) {
    if (err.name === 'TimeoutError') {
      const timedOut = new RequestError(0, `GET ${path}: the gateway did not finish its answer in time`);
      timedOut.timedOut = true;
      throw timedOut;
    }
    throw err;
  }
}

// ---------------------------------------------------------------- DOM

// h makes an element. props sets attributes (on* adds listeners, class
// the class name); children are nodes or values shown as text.
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === 'class') {
      node.className = value;
    } else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'value') {
      node.value = value;
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  fill(node, ...children);
  return node;
}

// fill appends children to node: nodes as they are, anything else as text.
function fill(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// set replaces the children of node.
function set(node, ...children) {
  node.replaceChildren();
  return fill(node, ...children);
}

function section(title, ...children) {
  return h('section', {}, h('h3', {}, title), ...children);
}

// table makes a table with a header row; rows go into the tbody it holds.
function table(id, columns, tbody) {
  return h('div', {class: 'table-wrap'},
    h('table', {id}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))), tbody));
}

function emptyRow(columns, text) {
  return h('tr', {class: 'empty'}, h('td', {colspan: columns}, text));
}

// errorBox is where a page shows what went wrong; show(null) clears it.
function errorBox(id) {
  const box = h('div', {class: 'error', role: 'alert', id, hidden: true});
  box.show = (err) => {
    if (!err) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    const node = err.body && err.body.node ? ` (node ${err.body.node})` : '';
    set(box, String(err.message || err), node);
  };
  return box;
}

// bar shows a fraction (0..1) as a horizontal bar; marks are fractions
// drawn as ticks (the capacity watermarks).
function bar(fraction, marks = [], label = '') {
  const fillNode = h('div', {class: 'fill'});
  const known = Number.isFinite(fraction);
  const clamped = known ? Math.max(0, Math.min(1, fraction)) : 0;
  fillNode.style.width = `${(clamped * 100).toFixed(1)}%`;
  let level = 'ok';
  if (known && clamped >= 0.9) {
    level = 'high';
  } else if (known && clamped >= 0.75) {
    level = 'warn';
  }
  const node = h('div', {class: `bar ${level}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100,
    'aria-valuenow': known ? Math.round(clamped * 100) : undefined, title: label || undefined}, fillNode);
  for (const mark of marks) {
    const tick = h('div', {class: 'mark', title: `${Math.round(mark * 100)}%`});
    tick.style.left = `${mark * 100}%`;
    node.append(tick);
  }
  return node;
}

// progress is a bar of done out of total; with no total, a running
// bar is indeterminate, and a complete one full.
function progress(done, total, running, complete) {
  if (total > 0) {
    const node = bar(done / total, [], `${done} of ${total}`);
    node.classList.add('progress');
    return node;
  }
  const node = h('div', {class: `bar progress${running ? ' busy' : ''}`}, h('div', {class: 'fill'}));
  node.firstChild.style.width = running ? '' : complete ? '100%' : '0';
  return node;
}

function badge(text, kind) {
  return h('span', {class: `badge ${kind || text}`}, text);
}

// ---------------------------------------------------------------- formats

function num(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function bytes(value) {
  let n = num(value);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  // Past what rounds to 1024 of a unit, the next (1,048,575 B is
  // 1.00 MiB, not 1024.0 KiB).
  while (Math.abs(n) >= (unit === 0 ? 1024 : 1023.95) && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(n)} B` : `${n.toFixed(Math.abs(n) < 9.995 ? 2 : 1)} ${units[unit]}`;
}

function rate(bytesPerSecond) {
  return Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? `${bytes(bytesPerSecond)}/s` : '—';
}

function count(value) {
  return num(value).toLocaleString('en-US');
}

function percent(fraction) {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%` : '—';
}

// duration formats nanoseconds.
function duration(ns) {
  const ms = num(ns) / 1e6;
  if (ms < 999.5) {
    return `${ms.toFixed(ms < 9.95 ? 1 : 0)} ms`;
  }
  const s = ms / 1000;
  if (s < 119.95) {
    return `${s.toFixed(s < 9.995 ? 2 : 1)} s`;
  }
  // Rounded first, then split: 179.6 s is 3 min 0 s, not 2 min 60 s.
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 120) {
    return `${m} min ${whole % 60} s`;
  }
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// time formats a Date, an RFC 3339 string or Unix nanoseconds; Go's zero
// time is no time.
function time(value) {
  if (value === undefined || value === null || value === '' || value === 0) {
    return '—';
  }
  let date = value;
  if (!(value instanceof Date)) {
    date = typeof value === 'number' ? new Date(value / 1e6) : new Date(value);
  }
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() <= 1) {
    return '—';
  }
  return date.toLocaleString();
}

function millis(value) {
  if (typeof value === 'number') {
    return value / 1e6;
  }
  const t = new Date(value || 0).getTime();
  return Number.isNaN(t) || t <= 0 ? 0 : t;
}

// ---------------------------------------------------------------- routing

// route is the parsed fragment: #/a/b?x=1 is {parts: ['a','b'], query}.
function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  const query = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
  const parts = path.split('/').filter((p) => p !== '').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return {parts, query};
}

// href builds a fragment from path parts and query values.
function href(parts, query = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      search.set(key, String(value));
    }
  }
  const tail = search.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${tail ? `?${tail}` : ''}`;
}

// view is what the page shown now runs: a navigation stops its polls.
const view = {generation: 0, tasks: []};

// poll runs refresh now and every period milliseconds while the page is
// shown and the tab visible, never two at once. After a failure it waits
// twice as many periods each time (up to 32): a gateway that refuses or
// struggles is not asked as often as one that answers. It returns the
// task, whose stop() ends it.
function poll(refresh, period, onError) {
  const generation = view.generation;
  const task = {busy: false, stopped: false, failures: 0, skip: 0};
  task.tick = async () => {
    if (task.stopped || task.busy || document.hidden || generation !== view.generation) {
      return;
    }
    if (task.skip > 0) {
      task.skip--;
      return;
    }
    task.busy = true;
    try {
      await refresh(task);
      task.failures = 0;
      if (onError) {
        onError(null);
      }
    } catch (err) {
      task.failures++;
      task.skip = Math.min(2 ** task.failures, 32) - 1;
      if (generation === view.generation && onError) {
        onError(err);
      }
    } finally {
      task.busy = false;
    }
  };
  task.stop = () => {
    task.stopped = true;
    clearInterval(task.timer);
  };
  task.timer = setInterval(task.tick, period);
  view.tasks.push(task);
  task.tick();
  return task;
}

// A hidden tab polls nothing; it catches up as soon as it is shown.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    view.tasks.forEach((task) => task.tick());
  }
});

const pages = {
  cluster: clusterPage,
  buckets: bucketsPage,
  jobs: jobsPage,
  metrics: metricsPage,
};

function render() {
  view.tasks.forEach((task) => task.stop());
  view.tasks = [];
  view.generation++;
  const route = currentRoute();
  const name = route.parts[0] || 'cluster';
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.page === name);
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  const page = pages[name];
  if (!page) {
    fill(main, h('h2', {}, 'Not found'), h('p', {class: 'error'}, 'No console page ', h('code', {}, location.hash), '.'));
    return;
  }
  page(route, main);
}

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', () => {
  render();
  watchConnection();
  showSession();
});

// showSession names the user logged in, with a Log out, when the cluster
// checks tokens.
async function showSession() {
  const status = document.getElementById('session');
  let session;
  try {
    const response = await fetch('/console/session', {cache: 'no-store', credentials: 'same-origin'});
    if (!response.ok) {
      return;
    }
    session = await response.json();
  } catch {
    return;
  }
  if (!session.auth) {
    return;
  }
  const logout = async () => {
    try {
      await fetch('/console/', {method: 'DELETE', headers: {[consoleHeader]: '1'}, credentials: 'same-origin'});
    } finally {
      location.assign('/console/');
    }
  };
  status.replaceChildren(h('span', {id: 'user'}, session.user), ' · ',
    h('button', {type: 'button', class: 'link', id: 'logout', onclick: logout}, 'Log out'));
}

// healthTimeout is how long the connection check waits for the gateway.
const healthTimeout = 10000;

// watchConnection says which gateway serves the console, and when it
// does not answer.
function watchConnection() {
  const status = document.getElementById('connection');
  let busy = false;
  const check = async () => {
    // One check at a time: a gateway slow to answer is not asked again.
    if (document.hidden || busy) {
      return;
    }
    busy = true;
    try {
      // Sooner than other reads: this is what says the gateway is gone.
      const health = await getJSON('/v1/health', undefined, undefined, healthTimeout);
      status.className = 'connection ok';
      set(status, `gateway ${health.node_id} · map v${health.map_version}`);
    } catch (err) {
      status.className = 'connection down';
      // Refused (gone), or silent (frozen, its host cut off).
      set(status, err.timedOut ? `gateway not answering (nothing in ${healthTimeout / 1000} s)` : err.status === 0 ? 'gateway unreachable' : `gateway: ${err.message}`);
    } finally {
      busy = false;
    }
  };
  check();
  setInterval(check, 5000);
}

// ---------------------------------------------------------------- cluster

// Capacity watermarks: a mountpath past the first is getting full, past
// the second is nearly out of space.
const watermarks = [0.75, 0.9];

// Job kinds that move or restore data across the cluster.
const dataMovers = new Set(['rebalance', 'resilver', 'ec-resilver', 'detach']);

function clusterPage(route, main) {
  const selected = route.query.get('node') || '';
  const error = errorBox('cluster-error');
  const summary = h('dl', {class: 'summary', id: 'cluster-summary'});
  const nodes = h('tbody');
  const capacity = h('div', {id: 'capacity', class: 'capacity'});
  const movers = h('tbody');
  const moversUnanswered = h('p', {class: 'note warning', id: 'movers-unanswered', hidden: true});
  const details = h('div', {id: 'node-details'});
  fill(main,
    h('h2', {}, 'Cluster'), error, summary,
    section('Nodes', table('nodes', ['Node', 'Role', 'State', 'URL', 'Map', 'Used', 'Jobs running', 'Error'], nodes)),
    selected ? section(`Node ${selected}`, details) : null,
    section('Capacity',
      h('p', {class: 'note'}, 'Used space per target and per mountpath; the ticks mark 75% and 90%.'), capacity),
    section('Rebalance and resilver', moversUnanswered, table('movers', ['Job', 'Kind', 'State', 'Targets', 'Objects', 'Bytes', 'Started', 'Took', ''], movers)));

  poll(async () => {
    const status = await getJSON('/v1/cluster', {what: 'status'});
    const list = status.nodes || [];
    set(summary,
      h('dt', {}, 'Cluster'), h('dd', {}, status.uuid || '—'),
      h('dt', {}, 'Map version'), h('dd', {}, status.map_version),
      h('dt', {}, 'Primary'), h('dd', {}, status.primary || '—'),
      h('dt', {}, 'Gateways'), h('dd', {}, list.filter((n) => n.role !== 'target').length),
      h('dt', {}, 'Targets'), h('dd', {}, list.filter((n) => n.role !== 'gateway').length));
    set(nodes, list.length ? list.map((node) => nodeRow(node, status.primary, selected)) : emptyRow(8, 'No nodes.'));
    set(capacity, list.filter((n) => n.capacity || n.mountpaths).map(capacityBlock));
    if (!capacity.childElementCount) {
      fill(capacity, h('p', {class: 'note'}, 'No target reports capacity.'));
    }
    set(movers, moverRows(list));
    showUnanswered(moversUnanswered, list.filter((n) => n.error && n.role !== 'gateway' && n.state !== 'offline').map((n) => n.id));
  }, 2000, error.show);

  if (selected) {
    poll(async (self) => {
      try {
        set(details, await nodeDetails(selected));
      } catch (err) {
        if (err.status !== 403) {
          throw err;
        }
        // Asking again would be refused again: a login changes it.
        self.stop();
        set(details, h('p', {class: 'error', id: 'node-forbidden'},
          'A node\'s own figures (memory, CPU, uptime) need admin permission; the gateway refused them: ', err.message));
      }
    }, 2000, (err) => {
      if (err) {
        set(details, h('p', {class: 'error'}, err.message));
      }
    });
  }
}

function nodeRow(node, primary, selected) {
  const used = sumCapacity(node.capacity);
  const running = (node.jobs || []).filter((j) => j.running).length;
  const isPrimary = node.id === primary;
  return h('tr', {'data-node': node.id, class: node.id === selected ? 'selected' : undefined},
    h('td', {}, h('a', {href: href(['cluster'], {node: node.id})}, node.id), isPrimary ? h('span', {class: 'primary', title: 'primary gateway'}, ' ★ primary') : null),
    h('td', {}, node.role),
    h('td', {}, badge(node.state || 'unknown')),
    h('td', {}, h('code', {}, node.url)),
    h('td', {class: 'num'}, node.map_version || '—'),
    h('td', {}, node.capacity ? [bar(used.fraction, watermarks), ` ${bytes(used.used)} of ${bytes(used.total)}`] : '—'),
    h('td', {class: 'num'}, running),
    h('td', {class: 'error-text'}, node.error || ''));
}

function sumCapacity(capacity) {
  let used = 0;
  let total = 0;
  // Mountpaths on one filesystem are the same bytes: counted once.
  const seen = new Set();
  for (const mp of capacity || []) {
    const fs = mp.filesystem || mp.path;
    if (seen.has(fs)) {
      continue;
    }
    seen.add(fs);
    used += num(mp.used);
    total += num(mp.total);
  }
  return {used, total, fraction: total > 0 ? used / total : NaN};
}

function capacityBlock(node) {
  const sum = sumCapacity(node.capacity);
  const byPath = new Map((node.capacity || []).map((c) => [c.path, c]));
  const paths = new Map((node.mountpaths || []).map((m) => [m.path, m]));
  for (const path of byPath.keys()) {
    if (!paths.has(path)) {
      paths.set(path, {path, state: 'enabled'});
    }
  }
  const rows = [...paths.values()].map((mp) => {
    const c = byPath.get(mp.path);
    const fraction = c && num(c.total) > 0 ? num(c.used) / num(c.total) : NaN;
    return h('div', {class: 'mountpath', 'data-mountpath': mp.path},
      h('code', {class: 'path'}, mp.path),
      badge(mp.state || 'unknown'),
      bar(fraction, watermarks),
      h('span', {class: 'figure'}, c ? `${percent(fraction)} · ${bytes(c.used)} of ${bytes(c.total)}` : 'no capacity'),
      mp.reason ? h('span', {class: 'error-text'}, mp.reason) : null);
  });
  return h('div', {class: 'target-capacity', 'data-target': node.id},
    h('div', {class: 'target-total'}, h('strong', {}, node.id), bar(sum.fraction, watermarks),
      h('span', {class: 'figure'}, `${percent(sum.fraction)} · ${bytes(sum.used)} of ${bytes(sum.total)}`)),
    rows);
}

// moverRows groups the data-moving jobs of every node by id, newest first.
function moverRows(nodes) {
  const jobs = new Map();
  for (const node of nodes) {
    for (const job of node.jobs || []) {
      if (!dataMovers.has(job.kind)) {
        continue;
      }
      const j = jobs.get(job.id) || {id: job.id, kind: job.kind, targets: [], running: false, aborted: false,
        objects: 0, bytes: 0, started: Infinity, finished: 0, errors: []};
      j.targets.push(node.id);
      j.running = j.running || job.running;
      j.aborted = j.aborted || job.aborted;
      j.objects += num(job.objects);
      j.bytes += num(job.bytes);
      j.started = Math.min(j.started, num(job.started) || Infinity);
      j.finished = Math.max(j.finished, num(job.finished));
      if (job.error) {
        j.errors.push(`${node.id}: ${job.error}`);
      }
      jobs.set(job.id, j);
    }
  }
  const list = [...jobs.values()].sort((a, b) => b.started - a.started).slice(0, 10);
  if (!list.length) {
    return emptyRow(9, 'No rebalance or resilver has run.');
  }
  return list.map((j) => {
    const state = j.running ? 'running' : j.aborted ? 'aborted' : j.errors.length ? 'failed' : 'finished';
    const end = j.running ? Date.now() * 1e6 : j.finished;
    return h('tr', {'data-job': j.id},
      h('td', {}, h('code', {}, j.id)), h('td', {}, j.kind), h('td', {}, badge(state)),
      h('td', {}, j.targets.join(', ')), h('td', {class: 'num'}, count(j.objects)), h('td', {class: 'num'}, bytes(j.bytes)),
      h('td', {}, time(Number.isFinite(j.started) ? j.started : 0)),
      h('td', {}, Number.isFinite(j.started) && end >= j.started ? duration(end - j.started) : '—'),
      h('td', {}, progress(0, 0, j.running, state === 'finished'), j.errors.length ? h('div', {class: 'error-text'}, j.errors.join('; ')) : null));
  });
}

// nodeDetails asks the gateway for a node's own figures (memory, CPU,
// uptime), which it fetches from the node.
async function nodeDetails(id) {
  const s = await getJSON('/v1/reverse/daemon', {what: 'node_status'}, {'Ais-Node-Id': id});
  const sys = s.sys_info || {};
  const load = sys.load_avg || {};
  const mountpaths = Object.entries((s.capacity && s.capacity.mountpaths) || {});
  return [
    h('dl', {class: 'summary'},
      h('dt', {}, 'Status'), h('dd', {}, s.status || '—'),
      h('dt', {}, 'Uptime'), h('dd', {}, duration(s.uptime)),
      h('dt', {}, 'Map version'), h('dd', {}, s.smap_version || '—'),
      h('dt', {}, 'CPU'), h('dd', {}, `${num(sys.pct_cpu_used).toFixed(0)}% of ${num(sys.num_cpu)} cores · load ${num(load.one).toFixed(2)} ${num(load.five).toFixed(2)} ${num(load.fifteen).toFixed(2)}`),
      h('dt', {}, 'Memory'), h('dd', {}, `${bytes(sys.mem_used)} used, ${bytes(sys.mem_avail)} available (${num(sys.pct_mem_used).toFixed(1)}%)`),
      h('dt', {}, 'Process memory'), h('dd', {}, bytes(sys.proc_mem))),
    mountpaths.length ? table('node-mountpaths', ['Mountpath', 'State', 'Used', 'Available', ''],
      h('tbody', {}, mountpaths.map(([path, mp]) => h('tr', {},
        h('td', {}, h('code', {}, path)), h('td', {}, badge(mp.state || 'unknown')),
        h('td', {class: 'num'}, bytes(mp.used)), h('td', {class: 'num'}, bytes(mp.avail)),
        h('td', {}, bar(num(mp.pct_used) / 100, watermarks)))))) : null,
  ];
}

// ---------------------------------------------------------------- buckets

function bucketsPage(route, main) {
  if (route.parts.length > 1) {
    bucketPage(route, main);
    return;
  }
  const error = errorBox('buckets-error');
  const rows = h('tbody');
  fill(main, h('h2', {}, 'Buckets'), error,
    table('buckets', ['Bucket', 'Provider', 'Checksum', 'Versioning', 'Mirror', 'Erasure coding', 'Created'], rows));
  // The props are a HEAD per bucket, and change seldom: asked for the
  // first 100 buckets, six at a time, again after 30 s.
  const known = new Map();
  poll(async () => {
    const buckets = await getJSON('/v1/buckets');
    if (!buckets || !buckets.length) {
      set(rows, emptyRow(7, 'No buckets yet: ais bucket create ais://NAME'));
      return;
    }
    const key = (b) => `${b.provider}://${b.name}`;
    const now = Date.now();
    const due = buckets.slice(0, 100).filter((b) => !known.has(key(b)) || now - known.get(key(b)).at > 30000);
    for (let i = 0; i < due.length; i += 6) {
      await Promise.all(due.slice(i, i + 6).map(async (b) => {
        known.set(key(b), {props: await bucketProps(b.name, b.provider).catch(() => null), at: now});
      }));
    }
    set(rows, buckets.map((b) => {
      const p = (known.get(key(b)) || {}).props || {created: b.created};
      return h('tr', {'data-bucket': b.name},
        h('td', {}, h('a', {href: bucketHref(b)}, b.name)),
        h('td', {}, b.provider),
        h('td', {}, p.checksum ? p.checksum.type : '—'),
        h('td', {}, p.versioning ? (p.versioning.enabled ? 'on' : 'off') : '—'),
        h('td', {}, p.mirror ? (p.mirror.enabled ? `${p.mirror.copies} copies` : 'off') : '—'),
        h('td', {}, p.ec ? (p.ec.enabled ? `${p.ec.data_slices}+${p.ec.parity_slices}` : 'off') : '—'),
        h('td', {}, p.created || b.created ? time(num(p.created || b.created)) : '—'));
    }));
  }, 5000, error.show);
}

// bucketHref links to a bucket's page, naming its provider unless ais.
function bucketHref(b) {
  const bucket = b || {};
  return href(['buckets', bucket.name || ''], {provider: bucket.provider === 'ais' ? '' : bucket.provider});
}

async function bucketProps(name, provider) {
  const response = await call('HEAD', `/v1/buckets/${encodeURIComponent(name)}`, {query: {provider}});
  return parseJSON(response.headers.get('Ais-Bucket-Props') || '') || {};
}

// Extensions of the shard formats whose members a listing can show.
const archiveExtensions = ['.tar', '.tgz', '.tar.gz', '.zip', '.tar.lz4', '.tar.zst', '.msgpack', '.tfrecord'];

function isArchive(name) {
  return archiveExtensions.some((ext) => name.endsWith(ext));
}

// List flags of AIStore's listing (api.ListArchive, api.ListNoRecursion)
// and of its entries (api.EntryIsDir).
const listArchive = 8;
const listNoRecursion = 2048;
// A remote bucket is listed flat: one level of it is of what is cached.
const listCached = 1;
const entryIsDir = 256;

const pageSize = 100;

// objectPath is the API path of an object: the name's segments escaped.
function objectPath(bucket, name) {
  return `/v1/objects/${encodeURIComponent(bucket)}/${name.split('/').map(encodeURIComponent).join('/')}`;
}

function bucketPage(route, main) {
  const bucket = route.parts[1];
  const q = route.query;
  const state = {
    provider: q.get('provider') || '',
    prefix: q.get('prefix') || '',
    token: q.get('token') || '',
    object: q.get('object') || '',
    dirs: q.get('dirs') === '1',
  };
  const remote = state.provider !== '' && state.provider !== 'ais';
  const to = (changes) => href(['buckets', bucket], {...state, dirs: state.dirs ? '1' : '', ...changes});
  const error = errorBox('bucket-error');
  const props = h('p', {class: 'note', id: 'bucket-props'});
  const prefixInput = h('input', {type: 'search', id: 'prefix', name: 'prefix', value: state.prefix, placeholder: 'prefix, e.g. train/', 'aria-label': 'prefix'});
  const dirsInput = h('input', {type: 'checkbox', id: 'dirs', checked: state.dirs});
  const form = h('form', {class: 'inline', id: 'prefix-form', onsubmit: (event) => {
    event.preventDefault();
    location.hash = href(['buckets', bucket], {provider: state.provider, prefix: prefixInput.value, dirs: dirsInput.checked ? '1' : ''});
  }}, prefixInput, h('label', {}, dirsInput, remote ? ' one level (of what is cached)' : ' one level'), h('button', {type: 'submit'}, 'List'));
  const rows = h('tbody');
  const pager = h('div', {class: 'pager', id: 'pager'});
  const details = h('div', {id: 'object-details'});
  fill(main,
    h('h2', {}, h('a', {href: '#/buckets'}, 'Buckets'), ' / ', h('span', {id: 'bucket-name'}, bucket)),
    error, props, form,
    h('div', {class: 'browser'},
      h('div', {}, table('objects', ['Name', 'Size', 'Checksum', 'Version', 'Copies', 'Location'], rows), pager),
      state.object ? h('aside', {class: 'details'}, details) : null));

  bucketProps(bucket, state.provider).then((p) => {
    const parts = [`provider ${p.provider || 'ais'}`];
    if (p.checksum) {
      parts.push(`checksum ${p.checksum.type}`);
    }
    if (p.mirror && p.mirror.enabled) {
      parts.push(`${p.mirror.copies} copies`);
    }
    if (p.ec && p.ec.enabled) {
      parts.push(`erasure coded ${p.ec.data_slices}+${p.ec.parity_slices}`);
    }
    set(props, parts.join(' · '));
  }).catch(error.show);

  getJSON(`/v1/buckets/${encodeURIComponent(bucket)}`, {
    provider: state.provider, prefix: state.prefix, pagesize: pageSize, continuation_token: state.token,
    props: 'name,size,checksum,version,copies,location', flags: state.dirs ? (remote ? listNoRecursion | listCached : listNoRecursion) : '',
  }).then((page) => {
    const entries = page.entries || [];
    const away = page.incomplete || [];
    let empty = state.prefix ? 'No objects with this prefix.' : 'The bucket is empty.';
    if (away.length) {
      empty = 'No object listed.'; // the targets away may hold some
    }
    set(rows, entries.length ? entries.map((e) => objectRow(e, to, state)) : emptyRow(6, empty));
    set(pager,
      away.length ? h('p', {class: 'error-text', id: 'listing-incomplete'}, incompleteNote(away)) : null,
      state.token ? h('a', {href: to({token: '', object: ''}), id: 'first-page'}, '« First page') : null,
      h('span', {class: 'note'}, `${entries.length} entries`),
      page.continuation_token ? h('a', {href: to({token: page.continuation_token, object: ''}), id: 'next-page'}, 'Next page »') : null);
  }).catch(error.show);

  if (state.object) {
    objectDetails(bucket, state.provider, state.object, details).catch((err) => set(details, h('p', {class: 'error'}, err.message)));
  }
}

// incompleteNote says which targets a listing left out: their objects
// are away, not gone.
function incompleteNote(targets) {
  return `Not listed: target${targets.length > 1 ? 's' : ''} ${targets.join(', ')} did not answer; objects only ${targets.length > 1 ? 'they hold' : 'it holds'} are not shown.`;
}

function objectRow(entry, to, state) {
  if (num(entry.flags) & entryIsDir) {
    return h('tr', {class: 'dir'},
      h('td', {}, h('a', {href: to({prefix: entry.name, token: '', object: ''})}, entry.name)),
      h('td', {colspan: 5, class: 'note'}, 'directory'));
  }
  return h('tr', {'data-name': entry.name, class: entry.name === state.object ? 'selected' : undefined},
    h('td', {class: 'name'}, h('a', {href: to({object: entry.name})}, entry.name)),
    h('td', {class: 'num'}, bytes(entry.size)),
    h('td', {}, h('code', {}, entry.checksum || '—')),
    h('td', {}, entry.version || '—'),
    h('td', {class: 'num'}, entry.copies || '—'),
    h('td', {class: 'wrap'}, h('code', {}, entry.location || '—')));
}

// objectDetails shows an object, from a listing of its name: a HEAD is
// redirected to the target, another origin, which a page cannot read.
async function objectDetails(bucket, provider, name, node) {
  const archive = isArchive(name);
  // A shard's members are read from the whole shard (a big tgz inflates
  // for minutes): that listing waits as long as it takes.
  const listing = (flags) => getJSON(`/v1/buckets/${encodeURIComponent(bucket)}`, {
    provider, prefix: name, pagesize: 1, props: 'name,size,checksum,atime,version,copies,location,etag', flags,
  }, undefined, flags === listArchive ? 0 : undefined);
  const page = await listing('');
  const entries = page.entries || [];
  const entry = entries.find((e) => e.name === name);
  if (!entry) {
    const away = page.incomplete || [];
    set(node, h('h3', {}, name), h('p', {class: 'error', id: 'object-missing'}, away.length ? incompleteNote(away) : 'Object not found.'));
    return;
  }
  // A shard's members are listed when asked for: listing them reads the
  // whole shard on its target.
  const membersNode = h('div', {id: 'members-section'});
  const showMembers = async (event) => {
    event.target.disabled = true;
    set(membersNode, h('p', {class: 'note'}, 'Reading the shard…'));
    try {
      const withMembers = await listing(listArchive);
      const members = (withMembers.entries || []).filter((e) => e.name.startsWith(`${name}/`));
      const shown = members.slice(0, maxMembersShown);
      set(membersNode,
        h('h3', {}, `Members (${members.length})`),
        table('members', ['Member', 'Size'], h('tbody', {}, shown.length
          ? shown.map((m) => h('tr', {}, h('td', {}, m.name.slice(name.length + 1)), h('td', {class: 'num'}, bytes(m.size))))
          : emptyRow(2, 'No members: not a readable shard.'))),
        members.length > shown.length ? h('p', {class: 'note', id: 'members-more'}, `and ${count(members.length - shown.length)} more (ais ls --archive lists them all)`) : null);
    } catch (err) {
      set(membersNode, h('p', {class: 'error'}, `Members: ${err.message}`));
    }
  };
  if (archive) {
    fill(membersNode, h('button', {id: 'show-members', class: 'small', onclick: showMembers}, 'Show members'));
  }
  set(node,
    h('h3', {}, 'Object'),
    h('dl', {class: 'summary'},
      h('dt', {}, 'Name'), h('dd', {id: 'object-name'}, entry.name),
      h('dt', {}, 'Size'), h('dd', {}, `${bytes(entry.size)} (${count(entry.size)} bytes)`),
      h('dt', {}, 'Checksum'), h('dd', {}, h('code', {}, entry.checksum || '—')),
      h('dt', {}, 'Version'), h('dd', {}, entry.version || '—'),
      h('dt', {}, 'Copies'), h('dd', {}, entry.copies || '—'),
      h('dt', {}, 'Location'), h('dd', {}, h('code', {}, entry.location || '—')),
      h('dt', {}, 'Written'), h('dd', {}, time(entry.mtime)),
      h('dt', {}, 'Accessed'), h('dd', {}, entry.atime || '—'),
      entry.etag ? [h('dt', {}, 'ETag'), h('dd', {}, h('code', {}, entry.etag))] : null),
    h('p', {}, h('a', {href: apiPath(objectPath(bucket, name)) + (provider ? `?provider=${encodeURIComponent(provider)}` : ''), download: name.split('/').pop()}, 'Download')),
    archive ? membersNode : null);
}

// maxMembersShown bounds the rows of a shard's members drawn: a shard of
// a hundred thousand files would freeze the page.
const maxMembersShown = 1000;

// ---------------------------------------------------------------- jobs

const exampleSpec = `{
  "input_bck": {"name": "src"},
  "output_bck": {"name": "dst"},
  "input_format": {"template": "in-{00..07}.tar"},
  "output_format": "out-{000..999}.tar",
  "output_shard_size": "1MiB",
  "algorithm": {"kind": "shuffle", "seed": "42"}
}`;

function jobsPage(route, main) {
  if (route.parts[1] === 'dsort' && route.parts.length > 2) {
    dsortJobPage(route.parts[2], main);
    return;
  }
  // Each poll has its own box (one's answer would clear the other's
  // failure), and a Stop its own, which no poll clears.
  const error = errorBox('jobs-error');
  const othersError = errorBox('other-jobs-error');
  const actionError = errorBox('jobs-action-error');
  const dsortRows = h('tbody');
  const otherRows = h('tbody');
  const unanswered = h('p', {class: 'note warning', id: 'jobs-unanswered', hidden: true});
  fill(main, h('h2', {}, 'Jobs'), error, actionError, startForm(),
    section('dSort jobs', table('dsort-jobs', ['Job', 'Buckets', 'State', 'Phase', 'Shards', 'Records', 'Started', 'Took', 'Description'], dsortRows)),
    section('Other jobs', othersError, unanswered, table('other-jobs', ['Job', 'Kind', 'Bucket', 'State', 'Targets', 'Objects', 'Bytes', 'Started', 'Took', ''], otherRows)));
  poll(async () => {
    const list = (await getJSON('/v1/sort')) || [];
    list.sort((a, b) => millis(b.started_time) - millis(a.started_time));
    set(dsortRows, list.length ? list.map(dsortRow) : emptyRow(9, 'No dSort job yet.'));
  }, 1000, error.show);
  poll(async () => {
    const response = await call('GET', '/v1/cluster', {query: {what: 'qryxstats'}});
    const snaps = (await response.json()) || {};
    showUnanswered(unanswered, (response.headers.get('Ais-Unanswered') || '').split(',').filter(Boolean));
    set(otherRows, otherJobRows(snaps, actionError));
  }, 2000, othersError.show);
}

// showUnanswered says which targets did not answer: their parts of the
// jobs listed are not shown, and a job shown ended may still run there.
function showUnanswered(note, targets) {
  note.hidden = !targets.length;
  set(note, targets.length ? `Target ${targets.join(', ')} did not answer: its part of these jobs is not shown, and a job shown finished may still run there.` : '');
}

// dsortState is a job's state from its metrics: aborted on any target,
// finished on all, running otherwise.
function dsortState(info) {
  if (info.aborted || (info.Metrics && info.Metrics.aborted)) {
    return 'aborted';
  }
  if (info.archived || (info.Metrics && info.Metrics.archived)) {
    return 'finished';
  }
  return 'running';
}

function dsortRow(info) {
  const m = info.Metrics || {};
  const ex = m.local_extraction || {};
  const cr = m.shard_creation || {};
  const state = dsortState(info);
  const end = state === 'running' ? Date.now() : millis(info.finish_time);
  const start = millis(info.started_time);
  return h('tr', {'data-job': info.id},
    h('td', {}, h('a', {href: href(['jobs', 'dsort', info.id])}, info.id)),
    h('td', {}, bucketName(info['src-bck']), ' → ', bucketName(info['dst-bck'])),
    h('td', {}, badge(state)),
    h('td', {}, info.phase || '—'),
    h('td', {class: 'num'}, `${count(ex.extracted_count)}/${count(ex.total_count)} in, ${count(cr.created_count)}/${count(cr.to_create)} out`),
    h('td', {class: 'num'}, count(ex.extracted_record_count)),
    h('td', {}, time(info.started_time)),
    h('td', {}, start && end >= start ? duration((end - start) * 1e6) : '—'),
    h('td', {}, m.description || ''));
}

function bucketName(b) {
  if (!b || !b.name) {
    return '—';
  }
  return `${b.provider || 'ais'}://${b.name}`;
}

// stopping are the jobs a stop was sent for from this page.
const stopping = new Set();

// otherJobRows groups the jobs of every target by id; dSort jobs have
// their own table. The snapshots have AIStore's names (api.JobSnap): an
// unset start-time or end-time is Go's zero time, which millis reads as 0.
function otherJobRows(snaps, error) {
  const jobs = new Map();
  for (const [target, list] of Object.entries(snaps)) {
    for (const job of list || []) {
      if (job.kind === 'dsort') {
        continue;
      }
      const j = jobs.get(job.id) || {id: job.id, kind: job.kind, bck: job.bck, targets: [], running: false, aborted: false,
        objects: 0, bytes: 0, start: Infinity, end: 0, errors: []};
      j.targets.push(target);
      j.running = j.running || job.running;
      j.aborted = j.aborted || job.aborted;
      const stats = job.stats || {};
      j.objects += num(stats['loc-objs']);
      j.bytes += num(stats['loc-bytes']);
      j.start = Math.min(j.start, millis(job['start-time']) || Infinity);
      j.end = Math.max(j.end, millis(job['end-time']));
      if (job.err) {
        j.errors.push(`${target}: ${job.err}`);
      }
      jobs.set(job.id, j);
    }
  }
  const list = [...jobs.values()].sort((a, b) => b.start - a.start);
  if (!list.length) {
    return emptyRow(10, 'No jobs.');
  }
  return list.map((j) => {
    const state = j.running ? 'running' : j.aborted ? 'aborted' : j.errors.length ? 'failed' : 'finished';
    const end = j.running ? Date.now() : j.end;
    // A rebalance cannot be stopped (it ends by itself). A stop sent is
    // remembered across the rows redrawn every poll: not sent twice.
    const stop = j.running && j.kind !== 'rebalance' ? h('button', {class: 'danger small', disabled: stopping.has(j.id), onclick: async (event) => {
      event.target.disabled = true;
      stopping.add(j.id);
      try {
        await call('PUT', '/v1/cluster', {body: JSON.stringify({action: 'stop', value: {id: j.id}}), headers: {'Content-Type': 'application/json'}});
        error.show(null);
      } catch (err) {
        error.show(new Error(`Stop ${j.id}: ${err.message || err}`));
        event.target.disabled = false;
        stopping.delete(j.id);
      }
    }}, 'Stop') : null;
    return h('tr', {'data-job': j.id},
      h('td', {}, h('code', {}, j.id)), h('td', {}, j.kind), h('td', {}, bucketName(j.bck)), h('td', {}, badge(state)),
      h('td', {}, j.targets.sort().join(', ')), h('td', {class: 'num'}, count(j.objects)), h('td', {class: 'num'}, bytes(j.bytes)),
      h('td', {}, Number.isFinite(j.start) ? time(new Date(j.start)) : '—'),
      h('td', {}, Number.isFinite(j.start) && end >= j.start ? duration((end - j.start) * 1e6) : '—'),
      h('td', {}, stop, j.errors.length ? h('div', {class: 'error-text'}, j.errors.join('; ')) : null));
  });
}

// startForm is the textarea for a dSort spec (JSON or YAML) and its start
// button; a refused spec is explained beside it, naming the field.
function startForm() {
  const spec = h('textarea', {id: 'spec', name: 'spec', rows: 14, spellcheck: 'false', 'aria-describedby': 'spec-error',
    placeholder: exampleSpec, 'aria-label': 'dSort spec, JSON or YAML'});
  const feedback = h('div', {id: 'spec-error', class: 'spec-feedback', 'aria-live': 'polite'},
    h('p', {class: 'note'}, 'The spec in JSON or YAML, with AIStore\'s field names (see the README\'s dSort section).'));
  const start = h('button', {type: 'submit', id: 'start'}, 'Start');
  const clear = () => {
    spec.classList.remove('invalid');
    spec.removeAttribute('aria-invalid');
    feedback.classList.remove('shown', 'estimate');
  };
  spec.addEventListener('input', clear);
  const form = h('form', {id: 'start-form', class: 'start', onsubmit: async (event) => {
    event.preventDefault();
    clear();
    const text = spec.value.trim();
    if (!text) {
      showSpecError(spec, feedback, 'the spec is empty: write one, or take the example');
      return;
    }
    start.disabled = true;
    try {
      const response = await call('POST', '/v1/sort', {body: text, headers: {'Content-Type': text.startsWith('{') ? 'application/json' : 'application/yaml'}});
      // "dry_run": "estimate" starts no job: the answer is the estimate.
      if ((response.headers.get('Content-Type') || '').startsWith('application/json')) {
        showEstimate(feedback, await response.json());
        return;
      }
      const id = (await response.text()).trim();
      if (!/^[\w.-]{1,128}$/.test(id)) {
        showSpecError(spec, feedback, `the gateway answered no job id: ${id.slice(0, 300)}`);
        return;
      }
      location.hash = href(['jobs', 'dsort', id]);
    } catch (err) {
      showSpecError(spec, feedback, err.message, err.body && err.body.node);
    } finally {
      start.disabled = false;
    }
  }},
  h('div', {class: 'spec-grid'}, spec, feedback),
  h('div', {class: 'buttons'}, start,
    h('button', {type: 'button', class: 'secondary', onclick: () => {
      spec.value = exampleSpec;
      clear();
    }}, 'Example')));
  return section('Start a dSort job', form);
}

// showEstimate shows what a job of the spec would do (api.DsortEstimate)
// beside the spec: the whole, then each target.
function showEstimate(feedback, e) {
  const forecast = e.forecast || {};
  const pair = (key, value) => [h('dt', {}, key), h('dd', {}, value)];
  const records = `${count(e.records)}${num(e.output_records) !== num(e.records) ? `, ${count(e.output_records)} of them in the output` : ''}`;
  const shards = `${count(e.output_shards)}${e.first_shard ? ` (${e.first_shard} … ${e.last_shard || e.first_shard})` : ''}`;
  const targets = e.targets || [];
  feedback.classList.add('shown', 'estimate');
  set(feedback,
    h('p', {class: 'spec-title'}, 'Estimate: no job was started'),
    h('dl', {class: 'summary', id: 'spec-estimate'},
      pair('Input', [bucketName(e.input_bck), e.input_format].filter(Boolean).join(' ')),
      pair('Output', [bucketName(e.output_bck), e.output_format].filter(Boolean).join(' ')),
      pair('Input shards', `${count(e.input_shards)}${num(e.missing_shards) ? `, ${count(e.missing_shards)} missing` : ''}`),
      pair('Input size', `${bytes(e.input_bytes)} (files ${bytes(e.file_bytes)})`),
      pair('Records', records),
      pair('Output shards', shards),
      pair('Output size', `${bytes(e.output_bytes)}${e.output_exact ? '' : ' (as tar, before the output format compresses it)'}`),
      pair('Spills to disk', e.spills ? 'yes: past a target\'s memory budget' : 'no'),
      pair('Extraction', duration(forecast.extract_time)),
      pair('Sorting', duration(forecast.sort_time)),
      pair('Creation', duration(forecast.create_time)),
      pair('Total', duration(forecast.total_time)),
      e.seed ? pair('Seed', e.seed) : null,
      pair('Estimated in', duration(e.elapsed))),
    (e.warnings || []).length ? h('ul', {class: 'problems', id: 'spec-estimate-warnings'}, e.warnings.map((w) => h('li', {}, w))) : null,
    targets.length ? table('spec-estimate-targets', ['Target', 'Input shards', 'Records', 'Memory / budget', 'Output shards', 'Extract', 'Create'],
      h('tbody', {}, targets.map((t) => h('tr', {'data-target': t.node},
        h('td', {}, t.node), h('td', {class: 'num'}, count(t.input_shards)), h('td', {class: 'num'}, count(t.records)),
        h('td', {class: 'num'}, `${bytes(t.memory)} / ${bytes(t.memory_limit)}`), h('td', {class: 'num'}, count(t.output_shards)),
        h('td', {class: 'num'}, duration(t.extract_time)), h('td', {class: 'num'}, duration(t.create_time)))))) : null);
}

// Spec keys that are one word; the others have an underscore or a dot.
const plainSpecKeys = new Set(['algorithm', 'bucket', 'extension', 'description', 'Config', 'kind', 'seed']);

// specProblem finds which field a refused spec's message names: "field:
// ..." or "field ..." at the start of the reason, a JSON decoder's "unknown
// field \"x\"" or "Go struct field Spec.x", and a YAML error's line.
function specProblem(message) {
  const marker = 'invalid dSort spec:';
  const at = message.indexOf(marker);
  const reason = (at < 0 ? message : message.slice(at + marker.length)).trim();
  let field = '';
  let found = /unknown field "([^"]+)"/.exec(reason) || /Go struct field \w+\.([\w.]+)/.exec(reason);
  if (found) {
    field = found[1];
  } else if ((found = /^([A-Za-z_]\w*(?:\.\w+|\[\d+\])*)(?=[\s:]|$)/.exec(reason))) {
    const candidate = found[1];
    if (/[_.[]/.test(candidate) || plainSpecKeys.has(candidate)) {
      field = candidate;
    }
  }
  const line = /\bline (\d+)\b/.exec(reason);
  // What the message says of the field, after its name.
  let rest = '';
  if (field && reason.startsWith(field)) {
    rest = reason.slice(field.length).trim();
  } else if (field) {
    rest = `: ${reason}`;
  }
  return {field, reason, rest, line: line ? Number(line[1]) : 0};
}

// keyOffset is where a dotted field's last key is in the spec text, JSON
// ("key":) or YAML (key:), or -1.
function keyOffset(text, field) {
  let from = 0;
  let at = -1;
  for (const key of field.replace(/\[\d+\]/g, '').split('.')) {
    const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const pattern = new RegExp(`(["']?)${escaped}\\1\\s*:`, 'g');
    pattern.lastIndex = from;
    const match = pattern.exec(text);
    if (!match) {
      break;
    }
    at = match.index;
    from = match.index + match[0].length;
  }
  return at;
}

function showSpecError(spec, feedback, message, node) {
  const problem = specProblem(message);
  const text = spec.value;
  let lineNumber = problem.line;
  let offset = -1;
  if (problem.field) {
    offset = keyOffset(text, problem.field);
    if (offset >= 0) {
      lineNumber = text.slice(0, offset).split('\n').length;
    }
  }
  const lines = text.split('\n');
  const badLine = lineNumber > 0 && lineNumber <= lines.length ? lines[lineNumber - 1] : null;
  spec.classList.add('invalid');
  spec.setAttribute('aria-invalid', 'true');
  feedback.classList.add('shown');
  set(feedback,
    h('p', {class: 'spec-title'}, 'The spec was refused', node ? ` by ${node}` : '', ':'),
    problem.field
      ? h('p', {class: 'spec-reason'}, h('strong', {class: 'field', id: 'spec-field'}, problem.field), problem.rest.startsWith(':') ? '' : ' ', problem.rest)
      : h('p', {class: 'spec-reason'}, problem.reason),
    badLine !== null ? h('pre', {class: 'bad-line', id: 'spec-line'}, h('span', {class: 'line-number'}, `line ${lineNumber}`), badLine) : null,
    h('p', {class: 'note full-message'}, message));
  if (offset >= 0) {
    // Select the key in the textarea, which scrolls it into view.
    const key = /^["']?[^"':\s]+["']?/.exec(text.slice(offset));
    spec.setSelectionRange(offset, offset + (key ? key[0].length : 1));
    spec.focus();
  }
}

// dSort phases as the metrics name them.
const phases = [
  {key: 'local_extraction', title: 'Extraction', done: 'extracted_count', total: 'total_count', size: 'extracted_size', records: 'extracted_record_count'},
  {key: 'meta_sorting', title: 'Sorting'},
  {key: 'shard_creation', title: 'Creation', done: 'created_count', total: 'to_create', size: 'created_size', records: 'created_record_count'},
];

function dsortJobPage(id, main) {
  const stateNode = h('span', {id: 'job-state'}, 'loading');
  const error = errorBox('job-error');
  const summary = h('dl', {class: 'summary', id: 'job-summary'});
  const overview = h('div', {id: 'job-phases', class: 'phases'});
  const targets = h('tbody');
  const problems = h('div', {id: 'job-errors'});
  const notice = h('p', {class: 'note', id: 'job-notice', 'aria-live': 'polite'});
  let confirming = 0;
  // aborting: an abort was asked and the job still runs (the abort waits
  // for every target to stop and remove what it wrote: minutes maybe).
  let aborting = false;
  const abort = h('button', {id: 'abort', class: 'danger', disabled: true, onclick: async () => {
    // The first click asks; a second one within 5 seconds aborts.
    if (!confirming) {
      abort.textContent = 'Click again to abort';
      confirming = setTimeout(() => {
        confirming = 0;
        abort.textContent = 'Abort';
      }, 5000);
      return;
    }
    clearTimeout(confirming);
    confirming = 0;
    aborting = true;
    abort.disabled = true;
    abort.textContent = 'Aborting…';
    // At once, not at the next poll: the badge read "running" meanwhile.
    if (stateNode.textContent === 'running') {
      stateNode.className = 'badge aborting';
      set(stateNode, 'aborting');
    }
    set(notice, 'Aborting: every target stops and removes what it wrote.');
    try {
      await call('DELETE', '/v1/sort/abort', {query: {uuid: id}});
      actionError.show(null);
      set(notice, 'Abort requested: every target stops and removes what it wrote.');
      task.tick();
    } catch (err) {
      // Kept in its own box, which the polls do not clear.
      actionError.show(new Error(`Abort: ${err.message || err}`));
      aborting = false;
      task.tick(); // the badge as the job is
      set(notice, '');
      abort.disabled = false;
      abort.textContent = 'Abort';
    }
  }}, 'Abort');
  const remove = h('button', {id: 'remove', class: 'secondary', hidden: true, onclick: async () => {
    try {
      await call('DELETE', '/v1/sort', {query: {uuid: id}});
      location.hash = '#/jobs';
    } catch (err) {
      actionError.show(new Error(`Forget: ${err.message || err}`));
    }
  }}, 'Forget');
  const actionError = errorBox('job-action-error');
  const body = h('div', {id: 'job-body'}, notice, actionError, h('div', {class: 'buttons'}, abort, remove), summary, overview,
    section('Per target', table('job-targets', ['Target', 'Phase', 'Extraction', 'Extract rate', 'Sorting', 'Creation', 'Create rate', 'Memory peak / budget', 'Spilled', 'State'], targets)),
    problems);
  fill(main, h('h2', {}, h('a', {href: '#/jobs'}, 'Jobs'), ' / dSort ', h('code', {id: 'job-id'}, id), ' ', stateNode), error, body);

  let final = 0;
  const task = poll(async (self) => {
    let perTarget;
    try {
      perTarget = await getJSON('/v1/sort', {uuid: id});
    } catch (err) {
      if (err.status === 404) {
        stateNode.className = 'badge missing';
        set(stateNode, 'not found');
        set(body, h('p', {class: 'error', id: 'job-missing'}, 'dSort job ', h('code', {}, id), ' not found: the cluster has no job with this id (a mistyped id, or a job that was forgotten).'),
          h('p', {}, h('a', {href: '#/jobs'}, 'Every job')));
        self.stop();
        return;
      }
      throw err;
    }
    const infos = Object.entries(perTarget || {}).sort(([a], [b]) => a.localeCompare(b));
    const state = jobState(infos);
    // Once asked, an abort holds: a poll between the targets' end and the
    // coordinator's record of it may read the job running again.
    const shown = aborting && state === 'running' ? 'aborting' : state;
    stateNode.className = `badge ${shown}`;
    set(stateNode, shown);
    if (aborting) {
      abort.disabled = true;
      abort.textContent = {running: 'Aborting…', aborted: 'Aborted'}[state] || 'Abort';
    } else if (!confirming) {
      abort.disabled = state !== 'running';
      abort.textContent = state === 'aborted' ? 'Aborted' : 'Abort';
    }
    remove.hidden = state === 'running';
    showJobSummary(summary, infos);
    set(overview, phases.map((phase) => phaseBlock(phase, infos, state)));
    set(targets, infos.length ? infos.map(([target, info]) => targetRow(target, info)) : emptyRow(10, 'No target reports the job.'));
    set(problems, jobProblems(infos));
    // A job that ended does not change: one more look, then stop.
    if (state !== 'running' && ++final > 1) {
      self.stop();
    }
  }, 1000, error.show);
}

function jobState(infos) {
  if (!infos.length) {
    return 'running';
  }
  const states = infos.map(([, info]) => dsortState(info));
  if (states.includes('aborted')) {
    return 'aborted';
  }
  return states.every((s) => s === 'finished') ? 'finished' : 'running';
}

function showJobSummary(summary, infos) {
  if (!infos.length) {
    set(summary);
    return;
  }
  const first = infos[0][1];
  const start = Math.min(...infos.map(([, i]) => millis(i.started_time)).filter((t) => t > 0));
  const ends = infos.map(([, i]) => millis(i.finish_time));
  const finished = ends.every((t) => t > 0) ? Math.max(...ends) : 0;
  const m = first.Metrics || {};
  set(summary,
    h('dt', {}, 'Input'), h('dd', {}, bucketName(first['src-bck'])),
    h('dt', {}, 'Output'), h('dd', {}, h('a', {href: bucketHref(first['dst-bck']), id: 'job-output'}, bucketName(first['dst-bck']))),
    h('dt', {}, 'Started'), h('dd', {}, Number.isFinite(start) ? time(new Date(start)) : '—'),
    h('dt', {}, 'Finished'), h('dd', {}, finished ? time(new Date(finished)) : '—'),
    h('dt', {}, 'Took'), h('dd', {}, Number.isFinite(start) ? duration(((finished || Date.now()) - start) * 1e6) : '—'),
    m.description ? [h('dt', {}, 'Description'), h('dd', {}, m.description)] : null);
}

// phaseState says how far a phase went: a phase that ended without doing
// all it had to was stopped (by an abort), one never begun was skipped.
function phaseState(p, done, total, jobState) {
  const started = done > 0 || num(p.elapsed) > 0 || p.running;
  if (p.running) {
    return 'running';
  }
  if (p.finished && done >= total && (started || jobState !== 'aborted')) {
    return 'finished';
  }
  if (jobState === 'aborted') {
    return started ? 'stopped' : 'skipped';
  }
  return started ? 'stopped' : 'waiting';
}

// phaseBlock sums a phase over the targets: shards done out of total,
// records, bytes and the rate over the phase's time.
function phaseBlock(phase, infos, jobState) {
  let done = 0;
  let total = 0;
  let size = 0;
  let records = 0;
  let elapsed = 0;
  let running = false;
  let finished = infos.length > 0;
  for (const [, info] of infos) {
    const p = (info.Metrics || {})[phase.key] || {};
    if (phase.done) {
      done += num(p[phase.done]);
      total += num(p[phase.total]);
      size += num(p[phase.size]);
      records += num(p[phase.records]);
    }
    elapsed = Math.max(elapsed, num(p.elapsed));
    running = running || p.running;
    finished = finished && p.finished;
  }
  const state = phaseState({running, finished, elapsed}, done, total, jobState);
  return h('div', {class: 'phase', 'data-phase': phase.key},
    h('div', {class: 'phase-head'}, h('strong', {}, phase.title), ' ', badge(state)),
    progress(done, total, running, state === 'finished'),
    h('div', {class: 'figure'}, phase.done
      ? `${count(done)}/${count(total)} shards · ${count(records)} records · ${bytes(size)} · ${rate(size / (elapsed / 1e9))} · ${duration(elapsed)}`
      : duration(elapsed)));
}

function phaseCell(p, phase) {
  const done = num(p[phase.done]);
  const total = num(p[phase.total]);
  return h('td', {}, progress(done, total, p.running, p.finished && done >= total),
    h('div', {class: 'figure'}, `${count(done)}/${count(total)} · ${count(p[phase.records])} rec · ${bytes(p[phase.size])}`));
}

function targetRow(target, info) {
  const m = info.Metrics || {};
  const ex = m.local_extraction || {};
  const so = m.meta_sorting || {};
  const cr = m.shard_creation || {};
  const state = dsortState(info);
  return h('tr', {'data-target': target},
    h('td', {}, h('strong', {}, target)),
    h('td', {}, info.phase || '—'),
    phaseCell(ex, phases[0]),
    h('td', {class: 'num'}, rate(num(ex.extracted_size) / (num(ex.elapsed) / 1e9))),
    h('td', {}, so.running ? 'running' : so.finished ? `done in ${duration(so.elapsed)}` : '—'),
    phaseCell(cr, phases[2]),
    h('td', {class: 'num'}, rate(num(cr.created_size) / (num(cr.elapsed) / 1e9))),
    h('td', {class: 'num'}, m.memory_limit ? `${bytes(m.memory_peak)} / ${bytes(m.memory_limit)}` : bytes(m.memory_peak)),
    h('td', {class: 'num'}, num(ex.extracted_to_disk_count) ? `${count(ex.extracted_to_disk_count)} records, ${bytes(ex.extracted_to_disk_size)}` : '—'),
    h('td', {}, badge(state)));
}

// jobProblems lists the errors and warnings of every target, naming it.
function jobProblems(infos) {
  const errors = [];
  const warnings = [];
  for (const [target, info] of infos) {
    const m = info.Metrics || {};
    for (const e of m.errors || []) {
      errors.push(h('li', {}, h('strong', {}, target), ': ', e));
    }
    for (const w of m.warnings || []) {
      warnings.push(h('li', {}, h('strong', {}, target), ': ', w));
    }
  }
  return [
    errors.length ? section('Errors', h('ul', {class: 'problems error-text', id: 'job-error-list'}, errors)) : null,
    warnings.length ? section('Warnings', h('ul', {class: 'problems'}, warnings)) : null,
  ];
}

// ---------------------------------------------------------------- metrics

// parseMetrics reads Prometheus' text format into samples: name, labels
// and value.
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) {
      continue;
    }
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) {
      continue;
    }
    const labels = {};
    const labelPattern = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    let label;
    while ((label = labelPattern.exec(match[2] || ''))) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({name: match[1], labels, value: Number(match[3])});
  }
  return samples;
}

// total sums the samples of a metric whose labels match.
function total(samples, name, labels = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
    }
  }
  return sum;
}

// histogram reads the cumulative buckets of a histogram, of one op or of
// all: [[le, count]].
function histogram(samples, name, op) {
  return samples.filter((s) => s.name === `${name}_bucket` && (!op || s.labels.op === op))
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

// quantile estimates a quantile of the requests between two scrapes from
// the difference of their cumulative buckets, interpolating inside the
// bucket as Prometheus' histogram_quantile does. NaN with no requests.
function quantile(q, before, after) {
  const delta = after.map(([le, c], i) => [le, c - ((before[i] && before[i][0] === le) ? before[i][1] : 0)]);
  const all = delta.length ? delta[delta.length - 1][1] : 0;
  if (!(all > 0)) {
    return NaN;
  }
  const rank = q * all;
  let lower = 0;
  let below = 0;
  for (const [le, c] of delta) {
    if (c >= rank) {
      if (le === Infinity) {
        return lower;
      }
      return lower + (le - lower) * ((rank - below) / Math.max(c - below, 1e-9));
    }
    lower = le;
    below = c;
  }
  return lower;
}

// Chart is a line chart on a canvas of the last points of some series.
class Chart {
  constructor(id, title, unit, series) {
    this.title = title;
    this.unit = unit;
    this.series = series.map((s, i) => ({...s, color: palette[i % palette.length], points: []}));
    this.canvas = h('canvas', {id, width: 560, height: 220, role: 'img', 'aria-label': title});
    this.legend = h('div', {class: 'legend'});
    this.node = h('figure', {class: 'chart'}, h('figcaption', {}, title), this.canvas, this.legend);
  }

  push(t, values) {
    for (const s of this.series) {
      s.points.push([t, values[s.key]]);
      if (s.points.length > chartPoints) {
        s.points.shift();
      }
    }
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 560;
    const height = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const left = 64;
    const right = 10;
    const top = 10;
    const bottom = 22;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    let max = 0;
    let tMin = Infinity;
    let tMax = -Infinity;
    for (const s of this.series) {
      for (const [t, v] of s.points) {
        if (Number.isFinite(v)) {
          max = Math.max(max, v);
        }
        tMin = Math.min(tMin, t);
        tMax = Math.max(tMax, t);
      }
    }
    max = (this.unit.nice || niceMax)(max);
    const span = Math.max(tMax - tMin, chartPoints * 1000 / 2);
    tMin = tMax - span;
    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#d7dce2';
    g.fillStyle = '#5b6470';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(left + plotW, y);
      g.stroke();
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      g.fillText(this.unit.format((max * i) / 4), left - 6, y);
    }
    g.textAlign = 'left';
    g.textBaseline = 'top';
    g.fillText(`${Math.round(span / 1000)} s`, left, top + plotH + 6);
    g.textAlign = 'right';
    g.fillText('now', left + plotW, top + plotH + 6);
    for (const s of this.series) {
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      for (const [t, v] of s.points) {
        if (!Number.isFinite(v)) {
          pen = false;
          continue;
        }
        const x = left + ((t - tMin) / span) * plotW;
        const y = top + plotH - (max > 0 ? (v / max) * plotH : 0);
        if (pen) {
          g.lineTo(x, y);
        } else {
          g.moveTo(x, y);
          pen = true;
        }
      }
      g.stroke();
      // The newest point as a dot: a series with one point has no line.
      const last = [...s.points].reverse().find(([, v]) => Number.isFinite(v));
      if (last) {
        g.fillStyle = s.color;
        g.beginPath();
        g.arc(left + ((last[0] - tMin) / span) * plotW, top + plotH - (max > 0 ? (last[1] / max) * plotH : 0), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
    set(this.legend, this.series.map((s) => {
      const last = s.points.length ? s.points[s.points.length - 1][1] : NaN;
      const swatch = h('span', {class: 'swatch'});
      swatch.style.background = s.color;
      return h('span', {class: 'entry', 'data-series': s.key}, swatch, `${s.label} `, h('strong', {}, Number.isFinite(last) ? this.unit.format(last) : '—'));
    }));
  }
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const chartPoints = 120;

function niceMax(value) {
  if (!(value > 0)) {
    return 1;
  }
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) {
      return step * power;
    }
  }
  return 10 * power;
}

// niceBytes rounds a maximum up in binary units: 3 MiB, not 3.1 million.
function niceBytes(value) {
  let scale = 1;
  while (value / scale >= 1024) {
    scale *= 1024;
  }
  return Math.max(niceMax(value / scale) * scale, 1024);
}

const units = {
  perSecond: {format: (v) => `${v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2)}/s`},
  bytesPerSecond: {format: (v) => `${bytes(Math.round(v))}/s`, nice: niceBytes},
  seconds: {format: (v) => (v >= 1 ? `${v.toFixed(2)} s` : `${(v * 1000).toFixed(v >= 0.01 ? 0 : 2)} ms`)},
  bytes: {format: (v) => bytes(Math.round(v)), nice: niceBytes},
  fraction: {format: (v) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`},
};

function metricsPage(route, main) {
  const error = errorBox('metrics-error');
  const who = h('p', {class: 'note', id: 'metrics-node'});
  const others = h('p', {class: 'note'});
  const charts = [
    new Chart('chart-requests', 'Requests', units.perSecond, [
      {key: 'get', label: 'GET'}, {key: 'put', label: 'PUT'}, {key: 'head', label: 'HEAD'},
      {key: 'list', label: 'list'}, {key: 's3', label: 'S3'}]),
    new Chart('chart-throughput', 'Throughput', units.bytesPerSecond, [
      {key: 'getBytes', label: 'GET'}, {key: 'putBytes', label: 'PUT'}]),
    new Chart('chart-latency', 'Latency (since the last scrape)', units.seconds, [
      {key: 'p50', label: 'p50'}, {key: 'p99', label: 'p99'}, {key: 's3p99', label: 'S3 p99'}]),
    new Chart('chart-errors', 'Errors', units.perSecond, [{key: 'errors', label: 'errors'}]),
    new Chart('chart-cpu', 'Process CPU', units.fraction, [{key: 'cpu', label: 'CPU (of one core)'}]),
    new Chart('chart-memory', 'Process memory', units.bytes, [{key: 'rss', label: 'resident'}, {key: 'heap', label: 'Go heap'}]),
  ];
  fill(main, h('h2', {}, 'Metrics'), error, who,
    h('p', {class: 'note'}, 'Scraped from this gateway\'s /metrics every second. Requests count what the gateway served itself and what it redirected to targets (an object request counts once here, at the gateway; a client that goes to targets directly is counted on them). Latency is of the requests the gateway served.'),
    others, h('div', {class: 'charts'}, charts.map((c) => c.node)));

  getJSON('/v1/cluster', {what: 'smap'}).then((smap) => {
    const links = Object.values(smap.tmap || {}).map((t) => (t.public_net || {}).direct_url).filter(Boolean);
    if (links.length) {
      set(others, 'Each target serves its own: ', links.flatMap((url, i) => [i ? ', ' : '', h('a', {href: `${url}/metrics`, target: '_blank', rel: 'noopener'}, `${url}/metrics`)]));
    }
  }).catch(() => {});

  let previous = null;
  poll(async () => {
    const response = await call('GET', '/metrics', {headers: {Accept: 'text/plain'}});
    const node = response.headers.get('Ais-Node-Id');
    const samples = parseMetrics(await response.text());
    const now = Date.now();
    if (node) {
      set(who, `Node ${node}.`);
    }
    // A gateway redirects object requests and a target serves them; a
    // node that is both counts a request in each: the larger is the rate.
    const served = (op) => Math.max(total(samples, `ais_${op}_total`), total(samples, 'ais_redirects_total', {op}));
    const current = {
      t: now,
      node,
      get: served('get'),
      put: served('put'),
      head: served('head'),
      list: total(samples, 'ais_list_total'),
      s3: total(samples, 'ais_s3_requests_total'),
      getBytes: total(samples, 'ais_get_bytes_total'),
      putBytes: total(samples, 'ais_put_bytes_total'),
      errors: total(samples, 'ais_errors_total'),
      cpu: total(samples, 'process_cpu_seconds_total'),
      rss: total(samples, 'process_resident_memory_bytes'),
      heap: total(samples, 'go_memstats_heap_alloc_bytes'),
      latency: histogram(samples, 'ais_request_duration_seconds'),
      s3latency: histogram(samples, 'ais_s3_request_duration_seconds'),
    };
    // Behind a load balancer, a scrape may reach another gateway: rates
    // are of one process's counters, so its point is skipped.
    if (previous && previous.node !== node) {
      set(who, `Node ${node} (the scrapes reach more than one gateway: each point is of one).`);
    } else if (previous) {
      const seconds = (now - previous.t) / 1000;
      const perSecond = (key) => Math.max(0, current[key] - previous[key]) / seconds;
      const values = {
        get: perSecond('get'), put: perSecond('put'), head: perSecond('head'), list: perSecond('list'), s3: perSecond('s3'),
        getBytes: perSecond('getBytes'), putBytes: perSecond('putBytes'), errors: perSecond('errors'), cpu: perSecond('cpu'),
        rss: current.rss, heap: current.heap,
        p50: quantile(0.5, mergeHistogram(previous.latency), mergeHistogram(current.latency)),
        p99: quantile(0.99, mergeHistogram(previous.latency), mergeHistogram(current.latency)),
        s3p99: quantile(0.99, mergeHistogram(previous.s3latency), mergeHistogram(current.s3latency)),
      };
      charts.forEach((c) => c.push(now, values));
    } else {
      charts.forEach((c) => c.draw());
    }
    previous = current;
  }, 1000, error.show);
}

// mergeHistogram sums the buckets of every op: [[le, count]] by le.
function mergeHistogram(buckets) {
  const byBound = new Map();
  for (const [le, c] of buckets) {
    byBound.set(le, (byBound.get(le) || 0) + c);
  }
  return [...byBound.entries()].sort((a, b) => a[0] - b[0]);
}
