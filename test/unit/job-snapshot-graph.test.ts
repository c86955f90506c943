import { describe, expect, it } from 'vitest';
import { snapshotWithGraph, snapshotWithoutGraph } from '../../src/jobs/snapshot-graph.js';

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
});
