import { describe, expect, it } from 'vitest';
import { persistWithoutGraph, snapshotWithGraph, snapshotWithoutGraph } from '../../src/jobs/snapshot-graph.js';
import { composedFixture, createMachineHarness, jobInput } from '../support/fake-job-machine-actors.js';

const graph = { '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } };
const facts = { prompt_components: { user_request: 'a selfie' } };
const snapshot = { status: 'active', value: { queued: 'waiting' }, context: { jobId: 'j1', composed: { prompt: 'p', apiPrompt: graph, debug: facts } } };

describe('the persisted snapshot leaves out the composed graph and the composition facts', () => {
  it('stores neither, without touching the live snapshot', () => {
    const stored = snapshotWithoutGraph(snapshot) as typeof snapshot;
    expect(stored.context.composed).toEqual({ prompt: 'p' });
    expect(JSON.stringify(stored)).not.toContain('SaveImage');
    expect(snapshot.context.composed.apiPrompt).toBe(graph);
    expect(snapshot.context.composed.debug).toBe(facts);
  });

  it('a restore gets the graph back (the facts stay in the debug column: an empty record here)', () => {
    const stored = JSON.parse(JSON.stringify(snapshotWithoutGraph(snapshot))) as unknown;
    expect(snapshotWithGraph(stored, graph)).toEqual({ ...snapshot, context: { ...snapshot.context, composed: { prompt: 'p', apiPrompt: graph, debug: {} } } });
  });

  it('a snapshot stored before the column existed keeps its own graph; one not composed yet is left alone', () => {
    expect(snapshotWithGraph(snapshot, null)).toEqual(snapshot);
    expect(snapshotWithGraph(snapshot, { other: {} })).toEqual(snapshot);
    const composing = { value: { queued: 'composing' }, context: { composed: null } };
    expect(snapshotWithoutGraph(composing)).toBe(composing);
    expect(snapshotWithGraph(composing, graph)).toBe(composing);
  });

  it('a running submit keeps no copy of the graph in the stored snapshot; a restore sends the same graph again', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'submitting' });
    const live = h.actor.getSnapshot();
    const stored = persistWithoutGraph(live, (s) => h.actor.logic.getPersistedSnapshot(s));
    // The same as stripping xstate's own persisted snapshot, without xstate walking the graph.
    expect(stored).toEqual(snapshotWithoutGraph(h.actor.getPersistedSnapshot()));
    const text = JSON.stringify(stored);
    expect(text).not.toContain(JSON.stringify(composedFixture.apiPrompt));
    expect(live.context.composed?.apiPrompt).toBe(composedFixture.apiPrompt);
    h.actor.stop();

    const r = createMachineHarness(jobInput(), snapshotWithGraph(JSON.parse(text), composedFixture.apiPrompt));
    expect(r.value()).toEqual({ queued: 'submitting' });
    expect(r.last('submitPrompt').input).toEqual({ jobId: 'job-1', promptId: expect.any(String), backend: 'gpu0', prompt: composedFixture.apiPrompt });
    expect(r.context().composed?.apiPrompt).toEqual(composedFixture.apiPrompt);
  });

  it('a stored submit that kept its own graph (stored before this) restores with it', () => {
    const own = { '1': { class_type: 'Own', inputs: {} } };
    const old = { ...snapshot, children: { s: { src: 'submitPrompt', snapshot: { status: 'active', input: { jobId: 'j1', prompt: own } } } } };
    const restored = snapshotWithGraph(old, graph) as typeof old;
    expect(restored.children.s.snapshot.input.prompt).toBe(own);
  });
});
