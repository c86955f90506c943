import { setup } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { diagramFromMachine } from '../../src/http/index.js';
import { rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';

/** A machine shaped like ours: sub-states, invokes, delays, a global cancel. */
const machine = setup({ actors: {}, guards: { allCached: () => false } }).createMachine({
  id: 'job',
  initial: 'queued',
  states: {
    queued: {
      initial: 'composing',
      states: {
        composing: { on: { 'prompt.ready': 'waiting' } },
        waiting: { on: { 'slot.granted': '#job.submitted' } },
      },
      on: { 'job.cancel': 'cancelled' },
    },
    submitted: {
      on: { 'comfy.started': 'processing', 'comfy.rejected': 'failed', 'job.cancel': 'cancelled' },
      always: [{ guard: 'allCached', target: 'moving' }],
    },
    processing: { on: { 'comfy.succeeded': 'moving', 'comfy.failed': 'failed', 'job.cancel': 'cancelled' }, after: { 60000: 'failed' } },
    moving: { on: { 'files.saved': 'completed', 'files.failed': 'failed' } },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});

let h: HttpHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('machine diagram', () => {
  it('reduces the machine to top-level edges, lifting sub-state transitions to their parent', () => {
    const diagram = diagramFromMachine(machine);
    expect(diagram.source).toBe('machine');
    const edges = Object.fromEntries(diagram.edges.map((e) => [`${e.from}>${e.to}`, e.events]));
    expect(edges['queued>submitted']).toEqual(['slot.granted']);
    expect(edges['submitted>moving']).toEqual(['always']);
    expect(edges['processing>failed']).toEqual(expect.arrayContaining(['comfy.failed', 'after']));
    expect(edges['moving>completed']).toEqual(['files.saved']);
    // queued.composing → queued.waiting stays inside one top-level state: no edge.
    expect(Object.keys(edges).some((k) => k.startsWith('queued>queued'))).toBe(false);
    expect(Object.keys(edges)).toHaveLength(11);
  });

  it('reads toJSON() too, which has every transition but the eventless ones', () => {
    const edges = diagramFromMachine(machine.toJSON()).edges.map((e) => `${e.from}>${e.to}`);
    expect(edges).toHaveLength(10);
    expect(edges).not.toContain('submitted>moving');
    expect(edges).toContain('processing>failed');
  });

  it('falls back to the architecture table for anything unrecognisable', () => {
    expect(diagramFromMachine({ nonsense: true }).source).toBe('architecture');
    expect(diagramFromMachine(null).edges.length).toBeGreaterThan(8);
  });

  it('serves the diagram of the machine it was given', async () => {
    h = await startHttpHarness({ machineDefinition: machine.toJSON() });
    const body = (await rawRequest(h.server.port, 'GET', '/api/machine')).json();
    expect(body.diagram.source).toBe('machine');
    expect(body.diagram.finals).toEqual(['completed', 'failed', 'cancelled']);
  });
});
