// One job, everything a person needs to answer "why is my picture not here?": where it is
// in the machine, how it got there and how long each step took, the prompt and where it
// came from, the workflow facts, the files, and the error with what to do about it.
import { fileUrl } from './api-client.js';
import { formatClock, formatDuration, h, progressBar, stateBadge } from './dom-builder.js';
import { renderStateDiagram } from './state-diagram-view.js';
import { jobHref } from './url-state.js';

const sourceLabels = { llm: 'LLM', template: 'template', caller: 'caller', prompt: 'caller' };

function section(title, ...body) {
  return h('section', { class: 'detail-section', 'aria-label': title }, h('h3', {}, title), ...body);
}

function renderFacts(pairs) {
  const rows = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  return h(
    'dl',
    { class: 'facts' },
    rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : String(v))]),
  );
}

function timeline(events, job) {
  const items = events.map((event, i) => {
    const next = events[i + 1];
    const until = next ? Date.parse(next.at) : job.finished_at ? null : Date.now();
    const spent = until === null ? null : until - Date.parse(event.at);
    return h(
      'li',
      { class: `timeline-item state-${String(event.to_state).split('.')[0]}` },
      h('span', { class: 'timeline-time' }, formatClock(event.at)),
      h('span', { class: 'timeline-move' }, event.from_state ? `${event.from_state} → ` : '', h('strong', {}, event.to_state)),
      h('span', { class: 'timeline-type subtle' }, event.type),
      h('span', { class: 'timeline-spent' }, spent === null ? '' : next ? formatDuration(spent) : `${formatDuration(spent)} so far`),
    );
  });
  return h('ol', { class: 'timeline' }, items);
}

/** GPU handoff steps (docs/gpu-sharing.md): what each did and why, beside their timeline entries. */
function gpuHandoff(debug) {
  const steps = debug?.gpu_handoff ?? [];
  if (steps.length === 0) return null;
  const names = { llm_unload: 'unload the LLM', comfy_free: 'free ComfyUI' };
  return h(
    'ul',
    { class: 'handoff-steps' },
    steps.map((s) =>
      h(
        'li',
        { class: `handoff-step outcome-${s.outcome}` },
        h('strong', {}, names[s.step] ?? s.step),
        ` ${s.outcome} in ${formatDuration(s.ms)}`,
        s.detail ? h('span', { class: 'subtle' }, ` — ${s.detail}`) : null,
      ),
    ),
  );
}

function timings(t) {
  return renderFacts([
    ['queue wait', formatDuration(t.queue_wait_ms)],
    // Shown only when there is something to explain: runs ComfyUI forgot, an outage of the service.
    ['lost to forgotten runs', t.lost_ms > 0 ? formatDuration(t.lost_ms) : null],
    ['ComfyUI queue', formatDuration(t.comfy_queue_wait_ms)],
    ['generation', formatDuration(t.generation_ms)],
    ['service down', t.service_down_ms > 0 ? formatDuration(t.service_down_ms) : null],
    ['file move', formatDuration(t.file_move_ms)],
    ['total', formatDuration(t.total_ms)],
  ]);
}

/** Debug facts come from the JobService (`workflow.facts`, `loras_applied`, …); the rest is shown raw. */
function workflowFacts(job, debug) {
  const used = debug?.workflow ?? {};
  const facts = used.facts ?? {};
  const checkpoints = Array.isArray(facts.checkpoints) && facts.checkpoints.length ? facts.checkpoints.join(', ') : null;
  const loras = debug?.loras_applied?.length ? debug.loras_applied : (facts.loras ?? []);
  const loraText = loras.length
    ? loras.map((l) => `${l.name}${l.strength !== null && l.strength !== undefined ? ` (${l.strength})` : ''}${l.source ? ` · ${l.source}` : ''}`).join(', ')
    : 'none';
  const params = debug?.parameters_injected;
  const sampler = facts.sampler ? [facts.sampler.name, facts.sampler.scheduler].filter((v) => typeof v === 'string').join(' / ') : null;
  return h(
    'div',
    {},
    renderFacts([
      ['workflow', used.type ? `${job.workflow} (${used.type})` : job.workflow],
      ['checkpoint', checkpoints ?? 'none in the graph'],
      ['LoRAs', loraText],
      ['sampler', sampler],
      ['backend', job.backend],
      ['driven by', job.owner ?? null],
      ['ComfyUI prompt', job.comfy_prompt_id],
      ['seed', job.seed],
      ['attempts', job.attempts],
      [
        'parameters',
        params
          ? Object.entries(params)
              .filter(([k, v]) => !['prompt', 'negative'].includes(k) && v !== null && v !== undefined && typeof v !== 'object')
              .map(([k, v]) => `${k}=${String(v).slice(0, 40)}`)
              .join('  ')
          : undefined,
      ],
    ]),
    debug ? h('details', { class: 'raw' }, h('summary', {}, 'all debug facts'), h('pre', {}, JSON.stringify(debug, null, 2))) : null,
  );
}

function promptComponents(debug) {
  const c = debug?.prompt_components;
  if (!c) return null;
  const triggers = Array.isArray(c.character_triggers) ? c.character_triggers.join(', ') : null;
  return renderFacts([
    ['asked for', c.user ?? null],
    ['activity', c.activity ?? null],
    ['character', triggers || null],
    ['LLM', debug.llm?.model ?? null],
    ['fallback', debug.llm?.fallback_reason ?? null],
    ['shortened', debug.prompt_truncated ? debug.prompt_truncated.cut.join('; ') : null],
  ]);
}

function outputs(job) {
  const files = job.result?.files ?? [];
  if (files.length === 0) {
    const text =
      job.state === 'completed'
        ? 'No files recorded.'
        : ['failed', 'cancelled'].includes(job.state)
          ? `None: the job ${job.state} before any file was saved.`
          : 'No outputs yet.';
    return h('p', { class: 'subtle' }, text);
  }
  return h(
    'div',
    { class: 'thumbs' },
    files.map((f) => {
      const src = fileUrl(f.path);
      const media =
        f.kind === 'video'
          ? h('video', { src, controls: true, preload: 'metadata' })
          : f.kind === 'audio'
            ? h('audio', { src, controls: true, preload: 'none' })
            : // The small copy the service wrote beside the image, when there is one; the link opens the original.
              h('img', { src: f.thumbnail ? fileUrl(f.thumbnail.path) : src, alt: f.path, class: 'thumb', loading: 'lazy' });
      return h(
        'figure',
        { class: 'thumb-card' },
        h('a', { href: src, target: '_blank', rel: 'noopener' }, media),
        h(
          'figcaption',
          {},
          f.path.split('/').pop(),
          h('span', { class: 'subtle' }, ` ${f.width && f.height ? `${f.width}×${f.height} · ` : ''}${formatBytes(f.bytes)}`),
        ),
      );
    }),
  );
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function errorBox(error) {
  return h(
    'div',
    { class: 'error-box' },
    h('div', {}, h('code', { class: 'error-code' }, error.code), ' ', error.recoverable ? h('span', { class: 'pill' }, 'recoverable') : null),
    h('p', { class: 'error-message' }, error.message),
    error.suggestion ? h('p', { class: 'suggestion' }, h('strong', {}, 'What to do: '), error.suggestion) : null,
    error.details !== undefined ? h('details', { class: 'raw' }, h('summary', {}, 'details'), h('pre', {}, JSON.stringify(error.details, null, 2))) : null,
  );
}

/** Cancel asks first: a click on the wrong row must not throw away a running generation. */
function cancelControl(job, onCancel) {
  const wrap = h('span', { class: 'confirm-cancel' });
  const ask = h('button', { type: 'button', class: 'danger', onclick: () => wrap.replaceChildren(question) }, 'Cancel job…');
  const question = h(
    'span',
    { class: 'confirm', role: 'group', 'aria-label': 'confirm cancel' },
    h('span', {}, 'Cancel this job?'),
    h(
      'button',
      {
        type: 'button',
        class: 'danger confirm-yes',
        onclick: () => {
          wrap.replaceChildren(h('span', { class: 'subtle' }, 'cancelling…'));
          onCancel(job.id);
        },
      },
      'Yes, cancel it',
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'confirm-no',
        onclick: () => {
          wrap.replaceChildren(ask);
          ask.focus();
        },
      },
      'Keep it',
    ),
  );
  wrap.append(ask);
  return wrap;
}

function actions(job, { onClose, onCancel, onRegenerate }) {
  const finished = ['completed', 'failed', 'cancelled'].includes(job.state);
  const retryable = job.state === 'failed' && job.error?.recoverable === true;
  return h(
    'div',
    { class: 'detail-actions' },
    finished ? null : cancelControl(job, onCancel),
    // Retry = the same inputs and the same seed; regenerate = the same inputs, a new seed.
    retryable ? h('button', { type: 'button', class: 'primary retry', onclick: () => onRegenerate(job.id, job.seed) }, 'Retry') : null,
    h('button', { type: 'button', class: 'regenerate', onclick: () => onRegenerate(job.id, null) }, 'Regenerate (new seed)'),
    h('button', { type: 'button', onclick: onClose, 'aria-label': 'close detail' }, '×'),
  );
}

function links(job) {
  if (!job.regenerated_from && !(job.regenerations ?? []).length) return null;
  const link = (id) => h('a', { href: jobHref(id), class: 'job-link' }, h('code', {}, id));
  return renderFacts([
    ['regenerated from', job.regenerated_from ? h('span', { class: 'regenerated-from' }, link(job.regenerated_from)) : null],
    [
      'regenerations',
      (job.regenerations ?? []).length
        ? h('span', { class: 'regenerations' }, ...job.regenerations.flatMap((id, i) => (i ? [', ', link(id)] : [link(id)])))
        : null,
    ],
  ]);
}

/** The latest sampler preview (kept only in the page, replaced as new ones arrive). */
export function showPreview(panel, preview) {
  const figure = panel?.querySelector('.live-preview');
  if (!figure || !preview) return;
  const img = figure.querySelector('img');
  img.src = preview.data_url;
  img.dataset.node = preview.node ?? '';
  figure.hidden = false;
}

export function renderJobDetail({ job, events, debug }, diagram, { onClose, onCancel, onRegenerate, preview }) {
  const source = sourceLabels[job.prompt_source] ?? job.prompt_source ?? 'not written yet';
  const processing = job.state === 'processing';
  const previewFigure = processing
    ? h(
        'figure',
        { class: 'live-preview', hidden: true },
        h('img', { alt: 'latest sampler preview from ComfyUI' }),
        h('figcaption', { class: 'subtle' }, 'live preview'),
      )
    : null;
  const root = h(
    'div',
    { class: 'detail', dataset: { jobId: job.id, state: job.state } },
    h(
      'div',
      { class: 'detail-head' },
      h('h2', { tabindex: '-1' }, 'Job ', h('code', {}, job.id), ' ', stateBadge(job.state, job.substate)),
      actions(job, { onClose, onCancel, onRegenerate }),
    ),
    renderFacts([
      ['conversation', job.conversation_id],
      ['character', job.character],
      ['workflow', job.workflow],
      ['created', new Date(job.created_at).toLocaleString()],
    ]),
    links(job),
    // ComfyUI stops a prompt at its next node boundary or sampler step: a long node without a
    // progress bar (a model load, a blur) finishes first. The job waits for that confirmation
    // (up to the service's cancel-confirm time, 10 s by default) before it counts as cancelled.
    job.substate?.endsWith('.cancelling')
      ? h(
          'p',
          { class: 'note cancelling-note', role: 'status' },
          'Cancelling: waiting for ComfyUI to stop this prompt at its next node boundary or sampler step (a long node without progress finishes first).',
        )
      : null,
    processing
      ? h(
          'div',
          { class: 'detail-progress' },
          progressBar(job.progress, job.state),
          h('span', { class: 'subtle progress-text' }, job.progress ? `${job.progress.value} / ${job.progress.max}` : ''),
        )
      : null,
    previewFigure,
    job.error ? section('Error', errorBox(job.error)) : null,
    section('State machine', renderStateDiagram(diagram, job, events)),
    section('Timeline', timeline(events, job), gpuHandoff(debug), timings(job.timings)),
    section(
      'Prompt',
      h('p', {}, h('span', { class: `pill source-${job.prompt_source ?? 'none'}` }, `source: ${source}`)),
      job.prompt ? h('blockquote', { class: 'prompt' }, job.prompt) : h('p', { class: 'subtle' }, 'The visual prompt has not been written yet.'),
      job.negative_prompt ? h('p', { class: 'negative' }, h('strong', {}, 'negative: '), job.negative_prompt) : null,
      promptComponents(debug),
    ),
    section('Workflow', workflowFacts(job, debug)),
    section('Outputs', outputs(job)),
  );
  if (preview) showPreview(root, preview);
  return root;
}
