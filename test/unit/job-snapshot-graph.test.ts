import { describe, expect, it } from 'vitest';
import { snapshotWithGraph, snapshotWithoutGraph } from '../../src/jobs/snapshot-graph.js';

const graph = { '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } };
const snapshot = { status: 'active', value: { queued: 'waiting' }, context: { jobId: 'j1', composed: { prompt: 'p', apiPrompt: graph, debug: {} } } };

describe('the composed graph is stored apart from the snapshot', () => {
  it('leaves the graph out of the stored snapshot without touching the live one', () => {
    const stored = snapshotWithoutGraph(snapshot) as typeof snapshot;
    expect(stored.context.composed).toEqual({ prompt: 'p', debug: {} });
    expect(JSON.stringify(stored)).not.toContain('SaveImage');
    expect(snapshot.context.composed.apiPrompt).toBe(graph);
  });

  it('puts it back for a restore, and the round trip is the snapshot again', () => {
    const stored = JSON.parse(JSON.stringify(snapshotWithoutGraph(snapshot))) as unknown;
    expect(snapshotWithGraph(stored, graph)).toEqual(snapshot);
  });

  it('a snapshot stored before the column existed keeps its own graph; one not composed yet is left alone', () => {
    expect(snapshotWithGraph(snapshot, null)).toBe(snapshot);
    expect(snapshotWithGraph(snapshot, { other: {} })).toBe(snapshot);
    const composing = { value: { queued: 'composing' }, context: { composed: null } };
    expect(snapshotWithoutGraph(composing)).toBe(composing);
    expect(snapshotWithGraph(composing, graph)).toBe(composing);
  });
});
