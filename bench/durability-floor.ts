/**
 * What durability costs on this disk, measured beside the latency benchmark: what a delivery
 * that survives a power cut pays and a bare client never does — a small file written and
 * fsynced, renamed into a folder, and that folder fsynced, one after the other. (The
 * collector fsyncs ComfyUI's file while the prompt finishes, and its last fsyncs — the
 * sidecar's bytes and the folders — side by side after its last rename, so after
 * execution_success it waits for about the larger of the two, plus whatever queues behind
 * other writes to the same journal.)
 *
 * The latency target (chorus − bare ≤ 3 ms at p50) was set on a machine whose fsyncs took
 * ~0.16 ms; on a disk several times slower the same service misses it by the difference, so
 * the benchmark reports this beside the gap instead of leaving it to be guessed.
 */
import { open, rename, rm, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { nowMs } from './bench-environment.js';
import { summarize, type LatencySummary } from './latency-stats.js';

export interface DurabilityFloor {
  /** write + fsync of a 2 KB file (a sidecar's size), from open to close. */
  fileFsync: LatencySummary;
  /** rename into the folder, then fsync of the folder. */
  folderFsync: LatencySummary;
  /** Both, one after the other. */
  total: LatencySummary;
}

/** `samples` deliveries of a 2 KB file inside a fresh folder under `parent` (the benchmark's data folder's file system). */
export async function measureDurabilityFloor(parent: string, samples = 60): Promise<DurabilityFloor> {
  const folder = await mkdtemp(join(parent, 'durability-floor-'));
  const bytes = Buffer.alloc(2048, 0x7b);
  const file: number[] = [];
  const dir: number[] = [];
  const total: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const temp = join(folder, `.${i}.partial`);
      const started = nowMs();
      const handle = await open(temp, 'wx');
      try {
        await handle.write(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      const written = nowMs();
      await rename(temp, join(folder, `${i}.json`));
      const folderHandle = await open(folder, 'r');
      try {
        await folderHandle.sync();
      } finally {
        await folderHandle.close();
      }
      const done = nowMs();
      file.push(written - started);
      dir.push(done - written);
      total.push(done - started);
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return { fileFsync: summarize(file), folderFsync: summarize(dir), total: summarize(total) };
}
