/**
 * VacatedFolderSyncs: ComfyUI's folder fsynced in the background, once per folder however many
 * files left it before that fsync began.
 */
import { describe, expect, it } from 'vitest';
import { VacatedFolderSyncs } from '../../src/files/directory-syncs.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('VacatedFolderSyncs', () => {
  it('folders scheduled before the fsync begins share it; one scheduled while it runs gets its own', async () => {
    const begun: string[] = [];
    const releases: Array<() => void> = [];
    const syncs = new VacatedFolderSyncs(
      {
        syncDirectory: (dir) => {
          begun.push(dir);
          return new Promise<void>((resolve) => releases.push(resolve));
        },
      },
      20,
    );
    syncs.schedule(['/comfy/output']);
    syncs.schedule(['/comfy/output', '/comfy/output/chorus']);
    expect(begun).toEqual([]);
    await wait(40);
    expect(begun.sort()).toEqual(['/comfy/output', '/comfy/output/chorus']);
    syncs.schedule(['/comfy/output']); // after the first began: it may predate this file's move
    await wait(40);
    expect(begun.filter((dir) => dir === '/comfy/output')).toHaveLength(2);
    for (const release of releases) release();
    await syncs.settle();
    expect(syncs.pending).toBe(0);
  });

  it('settle() runs what is scheduled at once and waits for it; a failed fsync is not thrown (best effort)', async () => {
    const begun: string[] = [];
    const syncs = new VacatedFolderSyncs(
      {
        syncDirectory: async (dir) => {
          begun.push(dir);
          throw new Error('EIO');
        },
      },
      60_000,
    );
    syncs.schedule(['/comfy/output']);
    expect(syncs.pending).toBe(1);
    await syncs.settle();
    expect(begun).toEqual(['/comfy/output']);
    expect(syncs.pending).toBe(0);
  });
});

describe('VacatedFolderSyncs after settle()', () => {
  it('a folder scheduled after settle() (a collection finishing at stop) is fsynced at once, not on a timer', async () => {
    const begun: string[] = [];
    const syncs = new VacatedFolderSyncs(
      {
        syncDirectory: async (dir) => {
          begun.push(dir);
        },
      },
      60_000,
    );
    await syncs.settle();
    syncs.schedule(['/comfy/output']);
    expect(begun).toEqual(['/comfy/output']);
    await syncs.settle();
    expect(syncs.pending).toBe(0);
  });
});
