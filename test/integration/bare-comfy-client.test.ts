import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BareComfyClient, executionSuccessAt, outputFilesOf } from '../../bench/bare-comfy-client.js';
import { baselineGraph } from '../../bench/original-design-poller.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

describe('the latency benchmark’s bare client against the simulator', () => {
  let sim: SimulatorHandle;
  let client: BareComfyClient;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, stepDelayMs: 0, nodeDelayMs: 1, previews: false });
    client = await BareComfyClient.connect(sim.url);
  });

  afterAll(async () => {
    client.close();
    await sim.close();
  });

  it('holds the history entry only after ComfyUI stamped execution_success, and leaves the file in place', async () => {
    sim.faults.executionDelayMs(20);
    const before = Date.now();
    const run = await client.run(await baselineGraph('a bare prompt', 9001));
    const successAt = executionSuccessAt(run.entry);
    expect(successAt).toBeGreaterThanOrEqual(before + 20);
    // The end marker comes after history is stored, so the entry is never read before success.
    expect(run.inHandAt).toBeGreaterThanOrEqual(successAt!);
    const files = outputFilesOf(run.entry);
    expect(files).toHaveLength(1);
    expect(files[0]!.filename).toMatch(/^no_model_9001_/);
    expect(existsSync(join(sim.outputDir, files[0]!.subfolder, files[0]!.filename))).toBe(true);
  });

  it('runs prompts one after the other on one socket, each with its own id', async () => {
    sim.faults.executionDelayMs(0);
    const first = await client.run(await baselineGraph('first', 1));
    const second = await client.run(await baselineGraph('second', 2));
    expect(first.promptId).not.toBe(second.promptId);
    expect(executionSuccessAt(second.entry)).toBeGreaterThanOrEqual(executionSuccessAt(first.entry)!);
  });
});
