// The page's address is its state, so a link can be shared and the back button works:
//   #/jobs?state=failed&conversation=c1&q=3f2a&offset=25   the list, filtered and paged
//   #/jobs/{id}?state=failed                                one job (the list keeps its filters)
//   #/gallery?conversation=c1                               outputs as a grid
//   #/new                                                   the generate form
export const filterKeys = ['state', 'q', 'conversation', 'character'];

export function parseRoute(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/jobs';
  const [path, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const view = ['gallery', 'new'].includes(parts[0]) ? parts[0] : 'jobs';
  const filters = {};
  for (const key of filterKeys) {
    const value = params.get(key);
    if (value) filters[key] = value;
  }
  const offset = Number(params.get('offset'));
  return { view, jobId: view === 'jobs' && parts[1] ? parts[1] : null, filters, offset: Number.isInteger(offset) && offset > 0 ? offset : 0 };
}

export function routeHash({ view = 'jobs', jobId = null, filters = {}, offset = 0 }) {
  const params = new URLSearchParams();
  for (const key of filterKeys) if (filters[key]) params.set(key, filters[key]);
  if (offset > 0) params.set('offset', String(offset));
  const query = params.toString();
  const path = view === 'jobs' ? (jobId ? `/jobs/${encodeURIComponent(jobId)}` : '/jobs') : `/${view}`;
  return `#${path}${query ? `?${query}` : ''}`;
}

export function jobHref(jobId) {
  return routeHash({ view: 'jobs', jobId });
}

/** A new entry (back returns here), or the same entry rewritten (typing in a filter). */
export function go(route, { replace = false } = {}) {
  const hash = routeHash(route);
  if (hash === location.hash) return false;
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
  return true;
}
