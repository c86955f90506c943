/**
 * `chorus-visual doctor` loads the workflows with the config's limits, as `serve` and
 * `workflows validate` do: a workflow the service would refuse (more nodes, or more bytes,
 * than `limits.*` allows) is a problem to fix (exit 1), named with the limit and the config
 * key — not a pass. The config is the one doctor reads (`--config`, CHORUS_VISUAL_CONFIG).
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { makeUserFolder, runCli, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
let sim: SimulatorHandle;
let env: Record<string, string>;

beforeAll(async () => {
  folder = await makeUserFolder();
  sim = await startSimulator({ outputDir: join(folder.dir, 'comfy-output'), stepDelayMs: 0 });
  env = { CHORUS_VISUAL_COMFYUI_URL: sim.url, CHORUS_VISUAL_NATS_ENABLED: 'false' };
});
afterAll(async () => {
  await sim?.close();
  await folder?.remove();
});

interface Finding {
  level: string;
  subject: string;
  message: string;
  fix?: string;
}

async function doctor(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; failed: Finding[] }> {
  const result = await runCli(['doctor', '--json', ...args], { cwd: folder.dir, env: { ...env, ...extraEnv } });
  const report = JSON.parse(result.stdout) as { ok: boolean; findings: Finding[] };
  expect(report.ok).toBe(result.code === 0);
  return { code: result.code, failed: report.findings.filter((f) => f.level === 'fail') };
}

const config = (name: string, limits: string) => writeFile(join(folder.dir, name), `limits:\n${limits}`);

describe("doctor and the config's workflow limits", () => {
  // nova_portrait.json, the largest shipped workflow, has 11 nodes (and a metadata block); the others at most 8.
  it('fails (exit 1) on a workflow with more nodes than limits.max_workflow_nodes, naming the limit and the key; passes at the limit', async () => {
    await config('ten.yaml', '  max_workflow_nodes: 10\n');
    await config('eleven.yaml', '  max_workflow_nodes: 11\n');
    const nova = join(folder.dir, 'workflows', 'nova_portrait.json');

    const over = await doctor(['--config', 'ten.yaml']);
    expect(over.code).toBe(1);
    expect(over.failed).toEqual([
      {
        level: 'fail',
        subject: 'workflows',
        message: `${nova}: the graph has 11 nodes, more than limits.max_workflow_nodes (10): the service does not load it`,
        fix: 'raise limits.max_workflow_nodes in ten.yaml (or CHORUS_VISUAL_LIMITS_MAX_WORKFLOW_NODES) to at least 11, or remove nodes from the workflow',
      },
      // nova.yaml's default workflow is that one, so the character cannot generate either.
      expect.objectContaining({ level: 'fail', subject: 'characters', message: expect.stringContaining('"nova_portrait" is') }),
    ]);

    const under = await doctor([], { CHORUS_VISUAL_CONFIG: 'eleven.yaml' });
    expect(under.failed).toEqual([]);
    expect(under.code).toBe(0);
  }, 120_000);

  it('fails (exit 1) on a workflow file larger than limits.max_workflow_bytes, from the file CHORUS_VISUAL_CONFIG names', async () => {
    const nova = join(folder.dir, 'workflows', 'nova_portrait.json');
    const { size } = await stat(nova);
    await config('small-files.yaml', `  max_workflow_bytes: ${size - 1}\n`);

    const over = await doctor([], { CHORUS_VISUAL_CONFIG: 'small-files.yaml' });
    expect(over.code).toBe(1);
    expect(over.failed[0]).toEqual({
      level: 'fail',
      subject: 'workflows',
      message: `${nova}: the file is ${size} bytes, more than limits.max_workflow_bytes (${size - 1}): the service does not load it`,
      fix: `raise limits.max_workflow_bytes in small-files.yaml (or CHORUS_VISUAL_LIMITS_MAX_WORKFLOW_BYTES) to at least ${size}, or make the workflow file smaller`,
    });
  }, 120_000);
});
