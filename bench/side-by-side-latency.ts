/**
 * Benchmark 1, side by side: chorus-visual against the bare client (bare-comfy-client.ts) on
 * the same ComfyUI, alternated one prompt at a time in one run (closed loop, one in flight),
 * so both see the same server, the same machine load and the same moment.
 *
 *   bare client    latency = its /history entry in hand          − ComfyUI's execution_success timestamp
 *   chorus-visual  latency = `completed` at a NATS subscriber     − the same timestamp of its prompt
 *
 * Every prompt has its own prompt text and seed (the seed is in SaveImage's filename prefix),
 * so ComfyUI's cache never answers a prompt from an earlier one. The timestamps are ComfyUI's
 * clock and the arrivals ours: both are the wall clock of one host (a real ComfyUI on another
 * host would need synchronised clocks).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCommandSchema } from '../src/commands/index.js';
import { parseServiceConfig } from '../src/config/index.js';
import { injectWorkflow, WorkflowLibrary } from '../src/workflows/index.js';
import { BareComfyClient, executionSuccessAt, outputFilesOf, readHistoryEntry } from './bare-comfy-client.js';
import { benchConfigInput, connectBenchNats, createBenchDir, deleteRunStream, uniqueRunNames } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import { startServiceUnderTest, type ServicePlacement } from './service-process.js';

/** A ComfyUI to measure against: a real one (`--comfy-url`) or a simulator the bench started. */
export interface ComfyTarget {
  url: string;
  /** That server's output folder on this machine: the service moves files out of it. Absent: downloads through /view. */
  outputDir: string | undefined;
}

export interface SideBySideSamples {
  bare: number[];
  chorus: number[];
  bareFailed: number;
  chorusFailed: number;
  /** Pairs run first and not counted (connections, the service's first /object_info read). */
  warmupPairs: number;
  collectMode: 'move' | 'download';
  /** Where the service ran: `process` (compiled `serve`, as deployed) or `bench` (in this process). */
  service: ServicePlacement;
  wallMs: number;
}

const workflow = 'no_model_test';

export async function measureSideBySide(
  target: ComfyTarget,
  pairs: number,
  warmupPairs = 5,
  placement: ServicePlacement = 'process',
): Promise<SideBySideSamples> {
  const dir = await createBenchDir('latency-side-by-side');
  const names = uniqueRunNames('lat_side');
  const nc = await connectBenchNats();
  const subscriber = new CompletionSubscriber(nc, names.subjectPrefix);
  const collectMode = target.outputDir === undefined ? 'download' : 'move';
  const configInput = benchConfigInput({
    dir: dir.path,
    backends: [{ url: target.url, outputDir: target.outputDir }],
    names,
    maxConcurrent: 1,
    maxQueueSize: pairs + warmupPairs + 10,
    collectMode,
  });
  const config = parseServiceConfig(configInput);
  const service = await startServiceUnderTest(placement, { dir: dir.path, config: configInput, nc, subjectPrefix: names.subjectPrefix });
  const library = await WorkflowLibrary.load(config.workflows_dir);
  const bare = await BareComfyClient.connect(target.url);
  const bareOutputs: Array<{ filename: string; subfolder: string }> = [];
  // Unique per run as well as per prompt: a server with --cache-lru remembers older prompts.
  const runTag = randomBytes(4).toString('hex');
  const seedBase = randomInt(0, 2 ** 40);
  const definition = library.get(workflow);
  const samples: SideBySideSamples = { bare: [], chorus: [], bareFailed: 0, chorusFailed: 0, warmupPairs, collectMode, service: placement, wallMs: 0 };

  const runBare = async (i: number, counted: boolean) => {
    // The graph the service would send for the same request (same workflow, same injection).
    const graph = injectWorkflow(
      definition,
      { prompt: `side by side ${runTag} bare ${i}`, seed: seedBase + 2 * i },
      { defaults: config.comfyui.defaults },
    ).prompt;
    const run = await bare.run(graph);
    bareOutputs.push(...outputFilesOf(run.entry));
    const successAt = executionSuccessAt(run.entry);
    if (!counted) return;
    if (successAt === undefined) samples.bareFailed++;
    else samples.bare.push(run.inHandAt - successAt);
  };
  const runChorus = async (i: number, counted: boolean) => {
    const command = generateCommandSchema.parse({
      conversation_id: `side-by-side-${runTag}`,
      workflow,
      prompt: `side by side ${runTag} chorus ${i}`,
      seed: seedBase + 2 * i + 1,
    });
    const jobId = await service.generate(command);
    await subscriber.waitForJob(jobId, 60_000);
    const arrival = subscriber.arrivals.get(jobId)!;
    // Read after the event arrived, so it cannot delay what is measured.
    const successAt = arrival.promptId ? executionSuccessAt(await readHistoryEntry(target.url, arrival.promptId)) : undefined;
    if (!counted) return;
    if (arrival.state !== 'completed' || successAt === undefined) samples.chorusFailed++;
    else samples.chorus.push(arrival.at - successAt);
  };

  try {
    const startedAt = Date.now();
    for (let i = 0; i < warmupPairs + pairs; i++) {
      const counted = i >= warmupPairs;
      // Alternate which goes first, so neither always follows the other's idle gap.
      if (i % 2 === 0) {
        await runBare(i, counted);
        await runChorus(i, counted);
      } else {
        await runChorus(i, counted);
        await runBare(i, counted);
      }
    }
    samples.wallMs = Date.now() - startedAt;
    return samples;
  } finally {
    bare.close();
    subscriber.close();
    await service.stop();
    await library.close();
    await deleteRunStream(nc, names);
    await nc.close();
    await dir.remove();
    // The bare client's files stay in ComfyUI's folder (it stores nothing): tidy them away.
    const outputDir = target.outputDir;
    if (outputDir !== undefined) await Promise.all(bareOutputs.map((f) => rm(join(outputDir, f.subfolder, f.filename), { force: true })));
  }
}
