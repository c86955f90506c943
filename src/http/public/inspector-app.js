// The inspector page: the jobs table with filters and live progress, the backends panel,
// and a job's detail; kept current by the /api/live feed (and a slow poll as a backstop).
import { api, liveUrl } from './api-client.js';
import { formatAge, h, progressBar, setProgress, stateBadge } from './dom-builder.js';
import { renderJobDetail } from './job-detail-view.js';

const pageSize = 25;
const view = { jobs: new Map(), order: [], total: 0, offset: 0, selected: null, detail: null, diagram: null };
const $ = (id) => document.getElementById(id);

function filters() {
  const form = new FormData($('filters'));
  const q = new URLSearchParams();
  for (const key of ['state', 'conversation', 'character']) {
    const v = String(form.get(key) ?? '').trim();
    if (v) q.set(key, v);
  }
  return q;
}

function matchesFilters(job) {
  const q = filters();
  return (!q.get('state') || q.get('state') === job.state)
    && (!q.get('conversation') || q.get('conversation') === job.conversation_id)
    && (!q.get('character') || q.get('character') === job.character);
}

function showBanner(text) {
  const banner = $('banner');
  banner.textContent = text ?? '';
  banner.hidden = !text;
}

async function loadJobs() {
  const q = filters();
  q.set('limit', String(pageSize));
  q.set('offset', String(view.offset));
  try {
    const { jobs, total } = await api(`/api/jobs?${q}`);
    view.jobs = new Map(jobs.map((j) => [j.id, j]));
    view.order = jobs.map((j) => j.id);
    view.total = total;
    renderJobs();
    showBanner(null);
  } catch (error) {
    showBanner(`Could not load jobs: ${error.message}`);
  }
}

function jobRow(job) {
  return h('tr', { dataset: { jobId: job.id, state: job.state }, class: job.id === view.selected ? 'selected' : '', tabindex: 0, onclick: () => select(job.id), onkeydown: (e) => e.key === 'Enter' && select(job.id) },
    h('td', {}, h('code', { title: job.id }, job.id.length > 14 ? `${job.id.slice(0, 12)}…` : job.id)),
    h('td', { class: 'cell-state' }, stateBadge(job.state, job.substate)),
    h('td', {}, job.character ?? h('span', { class: 'subtle' }, '—')),
    h('td', {}, job.conversation_id),
    h('td', { class: 'cell-progress' }, progressBar(job.progress, job.state)),
    h('td', { class: 'cell-age', dataset: { created: job.created_at } }, formatAge(job.created_at)),
  );
}

function renderJobs() {
  const body = $('jobs-body');
  body.replaceChildren(...view.order.map((id) => jobRow(view.jobs.get(id))));
  $('jobs-empty').hidden = view.order.length > 0;
  $('jobs-total').textContent = String(view.total);
  const last = Math.min(view.offset + pageSize, view.total);
  $('page-info').textContent = view.total ? `${view.offset + 1}–${last} of ${view.total}` : '';
  $('prev-page').disabled = view.offset === 0;
  $('next-page').disabled = last >= view.total;
}

async function loadBackends() {
  try {
    const { backends, cluster, instance_id: self } = await api('/api/backends');
    $('backends').replaceChildren(
      ...(backends.length ? backends.map(backendCard) : [h('p', { class: 'subtle' }, 'No backends configured.')]),
      cluster ? instancesCard(cluster, self) : null,
    );
  } catch (error) {
    $('backends').replaceChildren(h('p', { class: 'subtle' }, `unavailable: ${error.message}`));
  }
}

/** Several instances share the work: who is alive and how many jobs each drives. */
function instancesCard(cluster, self) {
  const driving = new Map();
  for (const owner of Object.values(cluster.owners)) driving.set(owner, (driving.get(owner) ?? 0) + 1);
  return h('div', { class: 'backend instances' },
    h('div', { class: 'backend-head' }, h('strong', {}, 'instances')),
    h('dl', { class: 'facts compact' },
      ...cluster.instances.filter((i) => i.alive || driving.has(i.id)).flatMap((i) => [
        h('dt', {}, `${i.id}${i.id === self ? ' (this page)' : ''}`),
        h('dd', {}, `${i.alive ? 'alive' : 'lease lapsed'} · drives ${driving.get(i.id) ?? 0} job(s)`),
      ])),
  );
}

function backendCard(b) {
  const { max_concurrent: max, in_use: used } = b.capacity;
  return h('div', { class: `backend ${b.healthy ? 'healthy' : 'unhealthy'}`, dataset: { backend: b.name } },
    h('div', { class: 'backend-head' }, h('span', { class: 'dot' }), h('strong', {}, b.name), h('span', { class: 'subtle' }, b.healthy ? 'healthy' : 'unhealthy')),
    h('div', { class: 'subtle small' }, b.url),
    h('dl', { class: 'facts compact' },
      h('dt', {}, 'slots'), h('dd', {}, b.capacity.in_use_all_instances === undefined ? `${used} / ${max} in use` : `${b.capacity.in_use_all_instances} / ${max} in use (${used} by this instance)`),
      h('dt', {}, 'ComfyUI queue'), h('dd', {}, b.queueRemaining ?? '–'),
      h('dt', {}, 'socket'), h('dd', {}, b.socket),
      b.comfyuiVersion ? [h('dt', {}, 'version'), h('dd', {}, b.comfyuiVersion)] : null),
    b.lastError ? h('p', { class: 'backend-error' }, b.lastError) : null,
  );
}

async function select(jobId) {
  view.selected = jobId;
  for (const row of document.querySelectorAll('#jobs-body tr')) row.classList.toggle('selected', row.dataset.jobId === jobId);
  await loadDetail();
}

async function loadDetail() {
  const panel = $('detail');
  if (!view.selected) {
    panel.hidden = true;
    return;
  }
  try {
    view.detail = await api(`/api/jobs/${encodeURIComponent(view.selected)}?debug=true`);
    panel.replaceChildren(renderJobDetail(view.detail, view.diagram, { onClose: closeDetail, onCancel: cancelJob }));
    panel.hidden = false;
  } catch (error) {
    panel.replaceChildren(h('p', { class: 'error-message' }, `Could not load ${view.selected}: ${error.message}`));
    panel.hidden = false;
  }
}

function closeDetail() {
  view.selected = null;
  view.detail = null;
  $('detail').hidden = true;
  for (const row of document.querySelectorAll('#jobs-body tr.selected')) row.classList.remove('selected');
}

async function cancelJob(jobId) {
  try {
    await api(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST', body: '{}' });
  } catch (error) {
    showBanner(`Cancel failed: ${error.message}`);
  }
}

function onTransition(msg) {
  const job = msg.job;
  const known = view.jobs.has(job.id);
  if (matchesFilters(job)) {
    view.jobs.set(job.id, job);
    if (!known && view.offset === 0) {
      view.order.unshift(job.id);
      view.total += 1;
      if (view.order.length > pageSize) view.jobs.delete(view.order.pop());
    }
  } else if (known) {
    view.jobs.delete(job.id);
    view.order = view.order.filter((id) => id !== job.id);
    view.total = Math.max(0, view.total - 1);
  }
  renderJobs();
  if (job.id === view.selected) loadDetail();
  if (['submitted', 'completed', 'failed', 'cancelled'].includes(msg.to)) loadBackends();
}

function onProgress(msg) {
  const job = view.jobs.get(msg.job_id);
  if (job) {
    job.progress = msg.progress;
    const bar = document.querySelector(`#jobs-body tr[data-job-id="${CSS.escape(msg.job_id)}"] .progress`);
    if (bar) setProgress(bar, msg.progress, job.state);
  }
  if (msg.job_id === view.selected && view.detail) {
    view.detail.job.progress = msg.progress;
    const bar = document.querySelector('#detail .detail-progress .progress');
    if (bar) setProgress(bar, msg.progress, view.detail.job.state);
    const text = document.querySelector('#detail .progress-text');
    if (text) text.textContent = `${msg.progress.value} / ${msg.progress.max}`;
  }
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
  });
  ws.addEventListener('close', () => {
    setLiveStatus('offline', 'reconnecting…');
    setTimeout(() => connectLive(attempt + 1), Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
  });
}

function wireControls() {
  let debounce;
  $('filters').addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      view.offset = 0;
      loadJobs();
    }, 200);
  });
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('prev-page').addEventListener('click', () => {
    view.offset = Math.max(0, view.offset - pageSize);
    loadJobs();
  });
  $('next-page').addEventListener('click', () => {
    view.offset += pageSize;
    loadJobs();
  });
  // Ages move on their own; backends change without job transitions (health checks).
  setInterval(() => {
    for (const cell of document.querySelectorAll('.cell-age')) cell.textContent = formatAge(cell.dataset.created);
  }, 5_000);
  setInterval(loadBackends, 10_000);
}

async function start() {
  wireControls();
  try {
    view.diagram = (await api('/api/machine')).diagram;
  } catch (error) {
    showBanner(error.status === 401 ? 'This service needs a token: open the page as /?token=…' : `Could not reach the service: ${error.message}`);
    return;
  }
  await Promise.all([loadJobs(), loadBackends()]);
  connectLive();
}

start();
