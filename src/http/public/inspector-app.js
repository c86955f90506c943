// The inspector page: the jobs table with filters, counts and live progress, the backends
// panel, a job's detail (with its live preview), the gallery and the generate form. The
// address holds the state (url-state.js); the /api/live feed keeps it current.
import { api, liveUrl } from './api-client.js';
import { formatAge, h, progressBar, setProgress, stateBadge } from './dom-builder.js';
import { renderJobDetail, showPreview } from './job-detail-view.js';
import { renderGallery } from './gallery-view.js';
import { renderGenerateForm } from './generate-form-view.js';
import { filterKeys, go, jobHref, parseRoute } from './url-state.js';

const pageSize = 25;
const states = ['queued', 'submitted', 'processing', 'moving', 'completed', 'failed', 'cancelled'];
const view = { route: parseRoute(), listKey: null, jobs: new Map(), order: [], total: 0, counts: {}, detail: null, diagram: null, previews: new Map() };
const $ = (id) => document.getElementById(id);

function showBanner(text) {
  const banner = $('banner');
  banner.textContent = text ?? '';
  banner.hidden = !text;
}

function listQuery() {
  const { filters, offset } = view.route;
  const q = new URLSearchParams();
  if (filters.state) q.set('state', filters.state);
  if (filters.q) q.set('id_prefix', filters.q);
  if (filters.conversation) q.set('conversation', filters.conversation);
  if (filters.character) q.set('character', filters.character);
  q.set('limit', String(pageSize));
  q.set('offset', String(offset));
  return q;
}

function matchesFilters(job) {
  const { filters } = view.route;
  return (
    (!filters.state || filters.state === job.state) &&
    (!filters.q || job.id.startsWith(filters.q)) &&
    (!filters.conversation || filters.conversation === job.conversation_id) &&
    (!filters.character || filters.character === job.character)
  );
}

async function loadJobs() {
  const q = listQuery();
  view.listKey = q.toString();
  try {
    const { jobs, total, counts } = await api(`/api/jobs?${q}`);
    if (view.listKey !== q.toString()) return; // the filters moved on while this was loading
    view.jobs = new Map(jobs.map((j) => [j.id, j]));
    view.order = jobs.map((j) => j.id);
    view.total = total;
    view.counts = counts ?? {};
    renderJobs();
    showBanner(null);
  } catch (error) {
    showBanner(`Could not load jobs: ${error.message}`);
  }
}

function jobRow(job) {
  const shortId = job.id.length > 14 ? `${job.id.slice(0, 12)}…` : job.id;
  const selected = job.id === view.route.jobId;
  return h(
    'tr',
    {
      dataset: { jobId: job.id, state: job.state },
      class: selected ? 'selected' : '',
      onclick: (e) => {
        if (!e.target.closest('a')) go({ ...view.route, jobId: job.id });
      },
    },
    h('td', {}, h('a', { href: routeWithJob(job.id), class: 'job-link', title: job.id, 'aria-current': selected ? 'true' : null }, h('code', {}, shortId))),
    h('td', { class: 'cell-state' }, stateBadge(job.state, job.substate)),
    h('td', { class: 'col-character' }, job.character ?? h('span', { class: 'subtle' }, '—')),
    h('td', { class: 'col-conversation' }, job.conversation_id),
    h('td', { class: 'col-workflow' }, job.workflow),
    h('td', { class: 'cell-progress' }, progressBar(job.progress, job.state)),
    h('td', { class: 'col-error' }, job.error ? h('code', { class: 'error-code', title: job.error.message }, job.error.code) : ''),
    h('td', { class: 'cell-age col-age', dataset: { created: job.created_at } }, formatAge(job.created_at)),
  );
}

function routeWithJob(jobId) {
  const { filters, offset } = view.route;
  const base = jobHref(jobId);
  const params = new URLSearchParams();
  for (const key of filterKeys) if (filters[key]) params.set(key, filters[key]);
  if (offset) params.set('offset', String(offset));
  return params.toString() ? `${base}?${params}` : base;
}

function renderCounts() {
  const { filters } = view.route;
  const all = Object.values(view.counts).reduce((a, b) => a + b, 0);
  const item = (state, count, label) =>
    h(
      'li',
      {},
      h(
        'a',
        {
          href: `#/jobs?${new URLSearchParams({ ...withoutKey(filters, 'state'), ...(state ? { state } : {}) })}`.replace(/\?$/, ''),
          class: `state-count ${state ? `state-${state}` : 'state-all'}`,
          dataset: { state: state ?? 'all', count: String(count) },
          'aria-current': (filters.state ?? null) === state ? 'true' : null,
        },
        h('span', { class: 'state-count-label' }, label),
        ' ',
        h('strong', {}, String(count)),
      ),
    );
  $('state-counts').replaceChildren(item(null, all, 'all'), ...states.map((s) => item(s, view.counts[s] ?? 0, s)));
}

function withoutKey(object, key) {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

function renderJobs() {
  $('jobs-body').replaceChildren(...view.order.map((id) => jobRow(view.jobs.get(id))));
  $('jobs-empty').hidden = view.order.length > 0;
  $('jobs-total').textContent = String(view.total);
  const { offset } = view.route;
  const last = Math.min(offset + pageSize, view.total);
  $('page-info').textContent = view.total ? `${offset + 1}–${last} of ${view.total}` : '';
  $('prev-page').disabled = offset === 0;
  $('next-page').disabled = last >= view.total;
  renderCounts();
}

async function loadBackends() {
  try {
    const { backends, cluster, instance_id: self } = await api('/api/backends');
    const cards = backends.length ? backends.map(backendCard) : [h('p', { class: 'subtle' }, 'No backends configured.')];
    if (cluster) cards.push(instancesCard(cluster, self));
    $('backends').replaceChildren(...cards);
  } catch (error) {
    $('backends').replaceChildren(h('p', { class: 'subtle' }, `unavailable: ${error.message}`));
  }
}

let backendsTimer = null;
/** Slots change as jobs enter and leave ComfyUI; several transitions in a burst cost one fetch. */
function refreshBackendsSoon() {
  clearTimeout(backendsTimer);
  backendsTimer = setTimeout(loadBackends, 100);
}

/** Several instances share the work: who is alive and how many jobs each drives. */
function instancesCard(cluster, self) {
  const driving = new Map();
  for (const owner of Object.values(cluster.owners)) driving.set(owner, (driving.get(owner) ?? 0) + 1);
  return h(
    'div',
    { class: 'backend instances' },
    h('div', { class: 'backend-head' }, h('strong', {}, 'instances')),
    h(
      'dl',
      { class: 'facts compact' },
      ...cluster.instances
        .filter((i) => i.alive || driving.has(i.id))
        .flatMap((i) => [
          h('dt', {}, `${i.id}${i.id === self ? ' (this page)' : ''}`),
          h('dd', {}, `${i.alive ? 'alive' : 'lease lapsed'} · drives ${driving.get(i.id) ?? 0} job(s)`),
        ]),
    ),
  );
}

function backendCard(b) {
  const { max_concurrent: max, in_use: used } = b.capacity;
  return h(
    'div',
    { class: `backend ${b.healthy ? 'healthy' : 'unhealthy'}`, dataset: { backend: b.name } },
    h(
      'div',
      { class: 'backend-head' },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('strong', {}, b.name),
      h('span', { class: 'subtle' }, b.healthy ? 'healthy' : 'unhealthy'),
    ),
    h('div', { class: 'subtle small backend-url' }, b.url),
    h(
      'dl',
      { class: 'facts compact' },
      h('dt', {}, 'slots'),
      h(
        'dd',
        { class: 'slots', dataset: { inUse: String(b.capacity.in_use_all_instances ?? used) } },
        b.capacity.in_use_all_instances === undefined
          ? `${used} / ${max} in use`
          : `${b.capacity.in_use_all_instances} / ${max} in use (${used} by this instance)`,
      ),
      h('dt', {}, 'ComfyUI queue'),
      h('dd', {}, b.queueRemaining ?? '–'),
      h('dt', {}, 'socket'),
      h('dd', {}, b.socket),
      b.comfyuiVersion ? [h('dt', {}, 'version'), h('dd', {}, b.comfyuiVersion)] : null,
    ),
    b.lastError ? h('p', { class: 'backend-error' }, b.lastError) : null,
  );
}

async function loadDetail() {
  const panel = $('detail');
  const jobId = view.route.jobId;
  if (!jobId) {
    view.detail = null;
    panel.hidden = true;
    return;
  }
  try {
    const detail = await api(`/api/jobs/${encodeURIComponent(jobId)}?debug=true`);
    if (view.route.jobId !== jobId) return;
    const wasOpen = view.detail?.job.id === jobId;
    view.detail = detail;
    panel.replaceChildren(
      renderJobDetail(detail, view.diagram, {
        onClose: closeDetail,
        onCancel: cancelJob,
        onRegenerate: regenerateJob,
        preview: view.previews.get(jobId) ?? null,
      }),
    );
    panel.hidden = false;
    // A job opened by a link or a click: bring it into view and give it the focus.
    if (!wasOpen) {
      panel.scrollIntoView({ block: 'start' });
      panel.querySelector('h2')?.focus();
    }
  } catch (error) {
    view.detail = null;
    panel.replaceChildren(h('p', { class: 'error-message' }, `Could not load ${jobId}: ${error.message}`));
    panel.hidden = false;
  }
}

function closeDetail() {
  go({ ...view.route, jobId: null });
}

async function cancelJob(jobId) {
  try {
    await api(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST', body: '{}' });
  } catch (error) {
    showBanner(`Cancel failed: ${error.message}`);
  }
}

/** Regenerate (a new seed) or retry (the same seed): either way a new job, opened at once. */
async function regenerateJob(jobId, seed) {
  try {
    const body = seed === null || seed === undefined ? {} : { seed };
    const { job } = await api(`/api/jobs/${encodeURIComponent(jobId)}/regenerate`, { method: 'POST', body: JSON.stringify(body) });
    go({ view: 'jobs', jobId: job.id, filters: {}, offset: 0 });
  } catch (error) {
    showBanner(`Could not start a new job: ${error.message}`);
  }
}

function onTransition(msg) {
  const job = msg.job;
  const known = view.jobs.has(job.id);
  if (matchesFilters(job)) {
    view.jobs.set(job.id, job);
    if (!known && view.route.offset === 0) {
      view.order.unshift(job.id);
      view.total += 1;
      if (view.order.length > pageSize) view.jobs.delete(view.order.pop());
    }
  } else if (known) {
    view.jobs.delete(job.id);
    view.order = view.order.filter((id) => id !== job.id);
    view.total = Math.max(0, view.total - 1);
  }
  // Counts follow the top-level state; a new job counts once.
  const top = (name) => (name ? String(name).split('.')[0] : null);
  const from = top(msg.from);
  const to = top(msg.to);
  if (from !== to && to && matchesOtherFilters(job)) {
    if (from && view.counts[from]) view.counts[from] -= 1;
    view.counts[to] = (view.counts[to] ?? 0) + 1;
  }
  renderJobs();
  if (to !== 'processing') view.previews.delete(job.id);
  const shown = view.detail?.job;
  if (job.id === view.route.jobId || (shown && job.regenerated_from === shown.id)) loadDetail();
  // Any move between top-level states may take or free a backend slot (`submitted.pending`,
  // `moving`, …): the panel follows at once instead of waiting for its 10 s poll.
  if (from !== to) refreshBackendsSoon();
}

function matchesOtherFilters(job) {
  const { filters } = view.route;
  return (
    (!filters.q || job.id.startsWith(filters.q)) &&
    (!filters.conversation || filters.conversation === job.conversation_id) &&
    (!filters.character || filters.character === job.character)
  );
}

function onProgress(msg) {
  const job = view.jobs.get(msg.job_id);
  if (job) {
    job.progress = msg.progress;
    const bar = document.querySelector(`#jobs-body tr[data-job-id="${CSS.escape(msg.job_id)}"] .progress`);
    if (bar) setProgress(bar, msg.progress, job.state);
  }
  if (msg.job_id === view.route.jobId && view.detail) {
    view.detail.job.progress = msg.progress;
    const bar = document.querySelector('#detail .detail-progress .progress');
    if (bar) setProgress(bar, msg.progress, view.detail.job.state);
    const text = document.querySelector('#detail .progress-text');
    if (text) text.textContent = `${msg.progress.value} / ${msg.progress.max}`;
  }
}

function onPreview(msg) {
  // Only the latest one per job, in memory, for as long as the job runs.
  view.previews.set(msg.job_id, msg);
  if (msg.job_id === view.route.jobId) showPreview($('detail'), msg);
}

function setLiveStatus(state, text) {
  const el = $('live-status');
  el.dataset.state = state;
  el.textContent = text;
}

function connectLive(attempt = 0) {
  const ws = new WebSocket(liveUrl());
  ws.addEventListener('open', () => {
    setLiveStatus('live', 'live');
    // Whatever happened while we were away is in the database: reload once.
    if (attempt > 0) {
      loadJobs();
      loadBackends();
      loadDetail();
    }
  });
  ws.addEventListener('message', (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    if (msg.type === 'hello') $('instance').textContent = `instance ${msg.instance_id}`;
    else if (msg.type === 'transition') onTransition(msg);
    else if (msg.type === 'progress') onProgress(msg);
    else if (msg.type === 'preview') onPreview(msg);
  });
  ws.addEventListener('close', () => {
    setLiveStatus('offline', 'reconnecting…');
    setTimeout(() => connectLive(attempt + 1), Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
  });
}

function formFilters() {
  const form = new FormData($('filters'));
  const filters = {};
  for (const key of filterKeys) {
    const v = String(form.get(key) ?? '').trim();
    if (v) filters[key] = v;
  }
  return filters;
}

function syncForm() {
  const form = $('filters');
  for (const key of filterKeys) {
    const field = form.elements.namedItem(key);
    if (field && document.activeElement !== field) field.value = view.route.filters[key] ?? '';
  }
}

function wireControls() {
  let debounce;
  const form = $('filters');
  // The state menu is a choice (a history entry); typing rewrites the current entry.
  form.addEventListener('change', (e) => {
    if (e.target.name === 'state') go({ ...view.route, filters: formFilters(), offset: 0 });
  });
  form.addEventListener('input', (e) => {
    if (e.target.name === 'state') return;
    clearTimeout(debounce);
    debounce = setTimeout(() => go({ ...view.route, filters: formFilters(), offset: 0 }, { replace: true }), 250);
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  $('prev-page').addEventListener('click', () => go({ ...view.route, jobId: null, offset: Math.max(0, view.route.offset - pageSize) }));
  $('next-page').addEventListener('click', () => go({ ...view.route, jobId: null, offset: view.route.offset + pageSize }));
  window.addEventListener('hashchange', () => route());
  // Ages move on their own; backends change without job transitions (health checks).
  setInterval(() => {
    for (const cell of document.querySelectorAll('.cell-age')) cell.textContent = formatAge(cell.dataset.created);
  }, 5_000);
  setInterval(loadBackends, 10_000);
}

async function route() {
  view.route = parseRoute();
  const current = view.route.view;
  for (const name of ['jobs', 'gallery', 'new']) {
    $(`${name}-view`).hidden = name !== current;
    document.querySelector(`.topnav a[data-nav="${name}"]`)?.setAttribute('aria-current', name === current ? 'page' : 'false');
  }
  if (current === 'gallery') {
    await renderGallery($('gallery-view'), view.route);
    return;
  }
  if (current === 'new') {
    await renderGenerateForm($('new-view'), { onCreated: (job) => go({ view: 'jobs', jobId: job.id, filters: {}, offset: 0 }) });
    return;
  }
  syncForm();
  const key = listQuery().toString();
  await Promise.all([key !== view.listKey ? loadJobs() : renderJobs(), loadDetail()]);
}

async function start() {
  wireControls();
  try {
    view.diagram = (await api('/api/machine')).diagram;
  } catch (error) {
    showBanner(error.status === 401 ? 'This service needs a token: open the page as /?token=…' : `Could not reach the service: ${error.message}`);
    return;
  }
  await Promise.all([route(), loadBackends()]);
  connectLive();
}

start();
