// One job, everything a person needs to answer "why is my picture not here?": where it is
// in the machine, how it got there and how long each step took, the prompt and where it
// came from, the workflow facts, the files, and the error with what to do about it.
import { fileUrl } from './api-client.js';
import { formatClock, formatDuration, h, progressBar, stateBadge } from './dom-builder.js';
import { renderStateDiagram } from './state-diagram-view.js';

const sourceLabels = { llm: 'LLM', template: 'template', caller: 'caller', prompt: 'caller' };

function section(title, ...body) {
  return h('section', { class: 'detail-section' }, h('h3', {}, title), ...body);
}

function renderFacts(pairs) {
  const rows = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  return h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : String(v))]));
}

function timeline(events, job) {
  const items = events.map((event, i) => {
    const next = events[i + 1];
    const until = next ? Date.parse(next.at) : job.finished_at ? null : Date.now();
    const spent = until === null ? null : until - Date.parse(event.at);
    return h('li', { class: `timeline-item state-${String(event.to_state).split('.')[0]}` },
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
  return h('ul', { class: 'handoff-steps' }, steps.map((s) =>
    h('li', { class: `handoff-step outcome-${s.outcome}` },
      h('strong', {}, names[s.step] ?? s.step), ` ${s.outcome} in ${formatDuration(s.ms)}`, s.detail ? h('span', { class: 'subtle' }, ` — ${s.detail}`) : null)));
}

function timings(t) {
  return renderFacts([
    ['queue wait', formatDuration(t.queue_wait_ms)],
    ['ComfyUI queue', formatDuration(t.comfy_queue_wait_ms)],
    ['generation', formatDuration(t.generation_ms)],
    ['file move', formatDuration(t.file_move_ms)],
    ['total', formatDuration(t.total_ms)],
  ]);
}

/** Debug facts come from the JobService (`workflow.facts`, `loras_applied`, …); the rest is shown raw. */
function workflowFacts(job, debug) {
  const used = debug?.workflow ?? {};
  const facts = used.facts ?? {};
  const checkpoints = Array.isArray(facts.checkpoints) && facts.checkpoints.length ? facts.checkpoints.join(', ') : null;
  const loras = debug?.loras_applied?.length ? debug.loras_applied : facts.loras ?? [];
  const loraText = loras.length
    ? loras.map((l) => `${l.name}${l.strength !== null && l.strength !== undefined ? ` (${l.strength})` : ''}${l.source ? ` · ${l.source}` : ''}`).join(', ')
    : 'none';
  const params = debug?.parameters_injected;
  const sampler = facts.sampler ? [facts.sampler.name, facts.sampler.scheduler].filter((v) => typeof v === 'string').join(' / ') : null;
  return h('div', {},
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
      ['parameters', params ? Object.entries(params).filter(([k, v]) => !['prompt', 'negative'].includes(k) && v !== null && v !== undefined && typeof v !== 'object').map(([k, v]) => `${k}=${String(v).slice(0, 40)}`).join('  ') : undefined],
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
    ['fallback', debug.llm?.fallbackReason ?? null],
  ]);
}

function outputs(job) {
  const files = job.result?.files ?? [];
  if (files.length === 0) {
    const text = job.state === 'completed' ? 'No files recorded.' : ['failed', 'cancelled'].includes(job.state) ? `None: the job ${job.state} before any file was saved.` : 'No outputs yet.';
    return h('p', { class: 'subtle' }, text);
  }
  return h('div', { class: 'thumbs' }, files.map((f) => {
    const src = fileUrl(f.path);
    const media = f.kind === 'video' ? h('video', { src, controls: true, preload: 'metadata' })
      : f.kind === 'audio' ? h('audio', { src, controls: true, preload: 'none' })
      // The small copy the service wrote beside the image, when there is one; the link opens the original.
      : h('img', { src: f.thumbnail ? fileUrl(f.thumbnail.path) : src, alt: f.path, class: 'thumb', loading: 'lazy' });
    return h('figure', { class: 'thumb-card' },
      h('a', { href: src, target: '_blank', rel: 'noopener' }, media),
      h('figcaption', {}, f.path.split('/').pop(), h('span', { class: 'subtle' }, ` ${f.width && f.height ? `${f.width}×${f.height} · ` : ''}${formatBytes(f.bytes)}`)));
  }));
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function errorBox(error) {
  return h('div', { class: 'error-box' },
    h('div', {}, h('code', { class: 'error-code' }, error.code), ' ', error.recoverable ? h('span', { class: 'pill' }, 'recoverable') : null),
    h('p', { class: 'error-message' }, error.message),
    error.suggestion ? h('p', { class: 'suggestion' }, h('strong', {}, 'What to do: '), error.suggestion) : null,
    error.details !== undefined ? h('details', { class: 'raw' }, h('summary', {}, 'details'), h('pre', {}, JSON.stringify(error.details, null, 2))) : null,
  );
}

export function renderJobDetail({ job, events, debug }, diagram, { onClose, onCancel }) {
  const finished = ['completed', 'failed', 'cancelled'].includes(job.state);
  const source = sourceLabels[job.prompt_source] ?? job.prompt_source ?? 'not written yet';
  return h('div', { class: 'detail', dataset: { jobId: job.id, state: job.state } },
    h('div', { class: 'detail-head' },
      h('h2', {}, 'Job ', h('code', {}, job.id), ' ', stateBadge(job.state, job.substate)),
      h('div', { class: 'detail-actions' },
        finished ? null : h('button', { type: 'button', class: 'danger', onclick: () => onCancel(job.id) }, 'Cancel'),
        h('button', { type: 'button', onclick: onClose, 'aria-label': 'close detail' }, '×')),
    ),
    renderFacts([['conversation', job.conversation_id], ['character', job.character], ['created', new Date(job.created_at).toLocaleString()]]),
    job.state === 'processing' ? h('div', { class: 'detail-progress' }, progressBar(job.progress, job.state), h('span', { class: 'subtle progress-text' }, job.progress ? `${job.progress.value} / ${job.progress.max}` : '')) : null,
    job.error ? section('Error', errorBox(job.error)) : null,
    section('State machine', renderStateDiagram(diagram, job, events)),
    section('Timeline', timeline(events, job), gpuHandoff(debug), timings(job.timings)),
    section('Prompt',
      h('p', {}, h('span', { class: `pill source-${job.prompt_source ?? 'none'}` }, `source: ${source}`)),
      job.prompt ? h('blockquote', { class: 'prompt' }, job.prompt) : h('p', { class: 'subtle' }, 'The visual prompt has not been written yet.'),
      job.negative_prompt ? h('p', { class: 'negative' }, h('strong', {}, 'negative: '), job.negative_prompt) : null,
      promptComponents(debug)),
    section('Workflow', workflowFacts(job, debug)),
    section('Outputs', outputs(job)),
  );
}
