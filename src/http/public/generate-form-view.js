// The generate form: a character or a workflow, the request (or a finished prompt), an
// optional seed and size. It sends the very body `POST /api/jobs` (and NATS generate) takes,
// so the service's own validation answers; a refusal is shown beside the form.
import { api } from './api-client.js';
import { h } from './dom-builder.js';

function field(id, label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('p', { class: 'hint subtle', id: `${id}-hint` }, hint) : null);
}

function bodyOf(form) {
  const data = new FormData(form);
  const text = (name) => String(data.get(name) ?? '').trim();
  const int = (name) => (text(name) === '' ? undefined : Number(text(name)));
  const body = { conversation_id: text('conversation_id') };
  if (text('character')) body.character = text('character');
  if (text('workflow')) body.workflow = text('workflow');
  body[data.get('finished') ? 'prompt' : 'user_request'] = text('request');
  if (int('seed') !== undefined) body.seed = int('seed');
  const parameters = {};
  if (int('width') !== undefined) parameters.width = int('width');
  if (int('height') !== undefined) parameters.height = int('height');
  if (Object.keys(parameters).length) body.parameters = parameters;
  return body;
}

export async function renderGenerateForm(container, { onCreated }) {
  const status = h('div', { class: 'form-status', role: 'alert' });
  const workflowSelect = h('select', { id: 'gen-workflow', name: 'workflow' }, h('option', { value: '' }, "the character's default"));
  const form = h(
    'form',
    {
      class: 'generate-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const submit = form.querySelector('button[type="submit"]');
        submit.disabled = true;
        status.replaceChildren();
        try {
          const { job } = await api('/api/jobs', { method: 'POST', body: JSON.stringify(bodyOf(form)) });
          onCreated(job);
        } catch (error) {
          const details = Array.isArray(error.error?.details) ? error.error.details : [];
          status.replaceChildren(
            h('p', { class: 'error-message' }, h('code', { class: 'error-code' }, error.error?.code ?? 'ERROR'), ' ', error.message),
            ...details.map((d) => h('p', { class: 'subtle small' }, `${d.path}: ${d.message}`)),
          );
        } finally {
          submit.disabled = false;
        }
      },
    },
    field(
      'gen-conversation',
      'Conversation',
      h('input', { id: 'gen-conversation', name: 'conversation_id', required: true, value: 'inspector', autocomplete: 'off' }),
    ),
    field(
      'gen-character',
      'Character',
      h('input', { id: 'gen-character', name: 'character', placeholder: 'e.g. nova', autocomplete: 'off', 'aria-describedby': 'gen-character-hint' }),
      'A character, a workflow, or both.',
    ),
    field('gen-workflow', 'Workflow', workflowSelect),
    field(
      'gen-request',
      'Request',
      h('textarea', { id: 'gen-request', name: 'request', rows: 3, required: true, placeholder: 'send me a selfie of you sketching' }),
    ),
    h(
      'div',
      { class: 'field checkbox' },
      h('input', { type: 'checkbox', id: 'gen-finished', name: 'finished', value: '1' }),
      h('label', { for: 'gen-finished' }, 'This is a finished prompt (use it as is)'),
    ),
    h(
      'div',
      { class: 'field-row' },
      field('gen-seed', 'Seed', h('input', { id: 'gen-seed', name: 'seed', type: 'number', min: 0, step: 1, inputmode: 'numeric', placeholder: 'random' })),
      field('gen-width', 'Width', h('input', { id: 'gen-width', name: 'width', type: 'number', min: 16, step: 8, placeholder: 'workflow' })),
      field('gen-height', 'Height', h('input', { id: 'gen-height', name: 'height', type: 'number', min: 16, step: 8, placeholder: 'workflow' })),
    ),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Generate')),
    status,
  );
  container.replaceChildren(h('section', { class: 'panel form-panel', 'aria-labelledby': 'new-title' }, h('h2', { id: 'new-title' }, 'New job'), form));
  try {
    const { workflows } = await api('/api/workflows');
    workflowSelect.append(...workflows.map((w) => h('option', { value: w.name }, `${w.name} (${w.type})`)));
  } catch {
    /* the list is a convenience: the character's default still works */
  }
}
