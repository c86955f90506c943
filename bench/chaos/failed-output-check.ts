/**
 * Where did the output of a job that failed while collecting go? The architecture promises
 * that a failed move keeps ComfyUI's file. The no-model workflow names its output after the
 * job's seed (`chorus/no_model_<seed>_00001_.png`), so each failed job's output can be looked
 * for in ComfyUI's folder and in the data folder.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredJob } from './campaign-database-reader.js';

export interface FailedOutputResult {
  /** Failed with FILE_MOVE_FAILED. */
  fileMoveFailed: number;
  /** …whose ComfyUI file is still in ComfyUI's output folder (as promised). */
  keptInComfy: number;
  /** …whose only copy is a complete file in the conversation folder (ComfyUI's was removed). */
  onlyInDataFolder: number;
  /** …whose output is nowhere: lost. */
  lost: number;
  examples: { onlyInDataFolder: string[]; lost: string[] };
}

async function names(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

export async function checkFailedOutputs(jobs: StoredJob[], comfyOutputDir: string, dataDir: string): Promise<FailedOutputResult> {
  const comfyFiles = await names(comfyOutputDir);
  const dataFiles = await names(join(dataDir, 'conversations'));
  const result: FailedOutputResult = { fileMoveFailed: 0, keptInComfy: 0, onlyInDataFolder: 0, lost: 0, examples: { onlyInDataFolder: [], lost: [] } };
  for (const job of jobs) {
    if (job.status !== 'failed' || job.errorCode !== 'FILE_MOVE_FAILED') continue;
    result.fileMoveFailed++;
    if (job.seed !== undefined && comfyFiles.some((f) => f.includes(`no_model_${job.seed}_`))) {
      result.keptInComfy++;
    } else if (dataFiles.some((f) => f.includes(job.id) && !/\.(tmp|partial)|metadata\.json$/.test(f))) {
      result.onlyInDataFolder++;
      if (result.examples.onlyInDataFolder.length < 5) result.examples.onlyInDataFolder.push(job.id);
    } else {
      result.lost++;
      if (result.examples.lost.length < 5) result.examples.lost.push(`${job.id} (seed ${job.seed ?? '?'})`);
    }
  }
  return result;
}
