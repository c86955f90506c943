import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { destinationFor, selectCandidates } from '../../src/files/index.js';
import { planDestinations } from '../../src/files/output-plan.js';

const ref = (nodeId: string, filename: string, type = 'output', key = 'images'): OutputFileRef => ({ nodeId, key, filename, subfolder: '', type });

describe('selectCandidates', () => {
  it('skips temp previews when real outputs exist', () => {
    const { candidates, skippedTemp } = selectCandidates([ref('9', 'ComfyUI_temp_x_00001_.png', 'temp'), ref('2', 'a_00001_.png')]);
    expect(candidates.map((c) => c.filename)).toEqual(['a_00001_.png']);
    expect(skippedTemp.map((c) => c.filename)).toEqual(['ComfyUI_temp_x_00001_.png']);
  });

  it('keeps temp outputs when they are all the job produced', () => {
    const { candidates, skippedTemp } = selectCandidates([ref('9', 't1.png', 'temp'), ref('9', 't2.png', 'temp')]);
    expect(candidates).toHaveLength(2);
    expect(skippedTemp).toHaveLength(0);
  });

  it('orders by node id numerically, then key, keeping batch order, and drops duplicates', () => {
    const files = [ref('10', 'j.png'), ref('2', 'b_2.png'), ref('2', 'b_1.png'), ref('2', 'aud.flac', 'output', 'audio'), ref('10', 'j.png')];
    expect(selectCandidates(files).candidates.map((c) => c.filename)).toEqual(['aud.flac', 'b_2.png', 'b_1.png', 'j.png']);
  });
});

describe('destinationFor', () => {
  it('puts a single image at images/{job}.{ext}', () => {
    const destination = destinationFor({ dataDir: '/d', conversationId: 'c1', jobId: 'j1', kind: 'image', extension: 'png' });
    expect(destination.relativePath).toBe('conversations/c1/images/j1.png');
    expect(destination.absolutePath).toBe(path.join('/d', 'conversations', 'c1', 'images', 'j1.png'));
  });

  it('numbers across kinds when the job has several files', () => {
    const planned = planDestinations('/d', 'c1', 'j1', [
      { ref: ref('2', 'a.png'), media: { kind: 'image', mediaType: 'image/png' } },
      { ref: ref('3', 'v.mp4'), media: { kind: 'video', mediaType: 'video/mp4' } },
      { ref: ref('4', 's.flac'), media: { kind: 'audio', mediaType: 'audio/flac' } },
      { ref: ref('5', 'noext'), media: { kind: 'image', mediaType: 'image/jpeg' } },
    ]);
    expect(planned.map((p) => p.destination.relativePath)).toEqual([
      'conversations/c1/images/j1_1.png',
      'conversations/c1/videos/j1_2.mp4',
      'conversations/c1/audio/j1_3.flac',
      'conversations/c1/images/j1_4.jpg',
    ]);
  });
});
