/**
 * The baseline: how the original (seed) design learned that a prompt had finished. It
 * POSTed the prompt, then asked /history/{id} every 2 s, every 5 s once 30 s had passed and
 * every 10 s once 60 s had passed; on success it moved the files and announced completion.
 * Here it announces on NATS, so its latency is measured exactly like the service's.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { NatsConnection } from 'nats';
import { z } from 'zod';

/** The seed design's schedule: the delay before the next look, given the time waited so far. */
export function originalPollDelayMs(elapsedMs: number): number {
  if (elapsedMs >= 60_000) return 10_000;
  if (elapsedMs >= 30_000) return 5_000;
  return 2_000;
}

const fileSchema = z.looseObject({ filename: z.string(), subfolder: z.string(), type: z.string() });
const historyEntrySchema = z.looseObject({
  status: z.looseObject({ completed: z.boolean() }),
  outputs: z.record(z.string(), z.looseObject({ images: z.array(fileSchema).optional() })),
});
const historySchema = z.record(z.string(), historyEntrySchema);

const workflowPath = resolve(import.meta.dirname, '..', 'workflows', 'no_model_test.json');

/** The API graph without its metadata, with our prompt and seed written into the strings. */
export async function baselineGraph(prompt: string, seed: number): Promise<Record<string, unknown>> {
  const parsed = z.record(z.string(), z.unknown()).parse(JSON.parse(await readFile(workflowPath, 'utf8')));
  delete parsed['metadata'];
  const fill = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replaceAll('PROMPT_PLACEHOLDER', prompt).replaceAll('SEED_PLACEHOLDER', String(seed));
    if (Array.isArray(value)) return value.map(fill);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
    return value;
  };
  return fill(parsed) as Record<string, unknown>;
}

export interface BaselineBackend {
  url: string;
  outputDir: string;
}

export interface BaselineJobOptions {
  backend: BaselineBackend;
  nc: NatsConnection;
  subject: string;
  destinationDir: string;
  graph: Record<string, unknown>;
  schedule?: (elapsedMs: number) => number;
}

/** Runs one job the seed design's way; resolves with the prompt id once it was announced. */
export async function runBaselineJob(options: BaselineJobOptions): Promise<string> {
  const { backend } = options;
  const promptId = randomUUID();
  const submitted = await fetch(`${backend.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: options.graph, prompt_id: promptId }),
  });
  if (!submitted.ok) throw new Error(`baseline submit refused: HTTP ${submitted.status} ${await submitted.text()}`);
  await submitted.arrayBuffer();
  const startedAt = Date.now();
  const schedule = options.schedule ?? originalPollDelayMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, schedule(Date.now() - startedAt)));
    const response = await fetch(`${backend.url}/history/${promptId}`);
    const entry = historySchema.parse(await response.json())[promptId];
    if (!entry) continue;
    if (!entry.status.completed) throw new Error(`baseline prompt ${promptId} failed`);
    await mkdir(options.destinationDir, { recursive: true });
    for (const node of Object.values(entry.outputs)) {
      for (const file of node.images ?? []) {
        if (file.type !== 'output') continue;
        await rename(join(backend.outputDir, file.subfolder, file.filename), join(options.destinationDir, `${promptId}-${file.filename}`));
      }
    }
    options.nc.publish(options.subject, JSON.stringify({ prompt_id: promptId, state: 'completed' }));
    return promptId;
  }
}
