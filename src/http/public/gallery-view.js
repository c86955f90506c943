// The gallery: every delivered file of completed jobs, newest first, as a grid — images as
// thumbnails (the service's small copy when it made one), video and audio playable here —
// per conversation or for all, each linking to its job.
import { api, fileUrl } from './api-client.js';
import { h } from './dom-builder.js';
import { go, jobHref } from './url-state.js';

const pageSize = 48;

function card(job, file) {
  const src = fileUrl(file.path);
  const name = file.path.split('/').pop();
  const media =
    file.kind === 'video'
      ? h('video', { src, controls: true, preload: 'metadata', 'aria-label': `video ${name}` })
      : file.kind === 'audio'
        ? h('audio', { src, controls: true, preload: 'metadata', 'aria-label': `audio ${name}` })
        : h(
            'a',
            { href: src, target: '_blank', rel: 'noopener', 'aria-label': `open ${name} full size` },
            h('img', {
              src: file.thumbnail ? fileUrl(file.thumbnail.path) : src,
              alt: job.prompt ? job.prompt.slice(0, 120) : name,
              loading: 'lazy',
              class: 'gallery-thumb',
            }),
          );
  return h(
    'figure',
    { class: `gallery-card kind-${file.kind}`, dataset: { jobId: job.id, kind: file.kind } },
    media,
    h(
      'figcaption',
      {},
      h('a', { href: jobHref(job.id), class: 'job-link' }, h('code', {}, job.id.slice(0, 8))),
      h('span', { class: 'subtle' }, ` ${job.character ?? job.workflow} · ${job.conversation_id}`),
    ),
  );
}

export async function renderGallery(container, route) {
  const conversation = route.filters.conversation ?? '';
  const offset = route.offset;
  const q = new URLSearchParams({ state: 'completed', limit: String(pageSize), offset: String(offset) });
  if (conversation) q.set('conversation', conversation);
  const form = h(
    'form',
    {
      class: 'filters gallery-filter',
      role: 'search',
      'aria-label': 'gallery conversation',
      onsubmit: (e) => {
        e.preventDefault();
        const value = String(new FormData(e.currentTarget).get('conversation') ?? '').trim();
        go({ view: 'gallery', filters: value ? { conversation: value } : {}, offset: 0 });
      },
    },
    h('label', { for: 'gallery-conversation' }, 'Conversation'),
    h('input', { id: 'gallery-conversation', name: 'conversation', value: conversation, placeholder: 'all conversations', autocomplete: 'off' }),
    h('button', { type: 'submit' }, 'Show'),
  );
  const grid = h('div', { class: 'gallery-grid', 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  container.replaceChildren(
    h(
      'section',
      { class: 'panel gallery-panel', 'aria-labelledby': 'gallery-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'gallery-title' }, conversation ? `Gallery · ${conversation}` : 'Gallery · all conversations'), form),
      grid,
      pager,
    ),
  );
  try {
    const { jobs, total } = await api(`/api/jobs?${q}`);
    const cards = jobs.flatMap((job) => (job.result?.files ?? []).map((file) => card(job, file)));
    grid.replaceChildren(...(cards.length ? cards : [h('p', { class: 'empty' }, 'No finished outputs yet.')]));
    const filters = conversation ? { conversation } : {};
    pager.replaceChildren(
      h(
        'button',
        { type: 'button', disabled: offset === 0, onclick: () => go({ view: 'gallery', filters, offset: Math.max(0, offset - pageSize) }) },
        '‹ newer',
      ),
      h('span', { class: 'subtle' }, total ? `jobs ${offset + 1}–${Math.min(offset + pageSize, total)} of ${total}` : ''),
      h(
        'button',
        { type: 'button', disabled: offset + pageSize >= total, onclick: () => go({ view: 'gallery', filters, offset: offset + pageSize }) },
        'older ›',
      ),
    );
  } catch (error) {
    grid.replaceChildren(h('p', { class: 'error-message', role: 'alert' }, `Could not load the gallery: ${error.message}`));
  }
}
