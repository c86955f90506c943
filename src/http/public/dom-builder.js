// Builds DOM nodes from data without innerHTML, so prompt text and error messages can
// never become markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  appendAll(el, children);
  return el;
}

const svgNs = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatAge(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '–';
  if (ms < 5_000) return 'just now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h`;
  return `${Math.floor(ms / 86_400_000)} d`;
}

export function formatClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function stateBadge(state, substate) {
  return h('span', { class: `badge state-${state}`, title: substate ?? state }, state);
}

export function progressBar(progress, state) {
  const bar = h('div', { class: 'progress-fill' });
  const wrap = h('div', { class: `progress state-${state}`, role: 'progressbar' }, bar);
  setProgress(wrap, progress, state);
  return wrap;
}

/** Width set through CSSOM (allowed by the page's CSP, unlike a style attribute). */
export function setProgress(wrap, progress, state) {
  const bar = wrap.firstElementChild;
  let fraction = 0;
  if (state === 'completed' || state === 'moving') fraction = 1;
  else if (progress && progress.max > 0) fraction = Math.min(1, Math.max(0, progress.value / progress.max));
  bar.style.width = `${(fraction * 100).toFixed(1)}%`;
  wrap.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
  wrap.dataset.value = progress ? `${progress.value}/${progress.max}` : '';
  wrap.title = progress ? `${progress.value} / ${progress.max}${progress.node ? ` (node ${progress.node})` : ''}` : state;
}
