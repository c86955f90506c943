/**
 * The command line as a person or a script uses it, as real processes: `generate --json`
 * runs a job to its file, `jobs list|show --debug` read it back from the database, and
 * `demo` runs everything embedded. Bad flags are refused with the usage, not ignored.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let root: string;
let sim: SimulatorHandle;
let env: NodeJS.ProcessEnv;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: repoRoot, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cv-cli-'));
  sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 2 });
  env = {
    ...process.env,
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_ENABLED: 'false',
  };
});
afterAll(async () => {
  await sim.close();
  await rm(root, { recursive: true, force: true });
});

describe('chorus-visual command line', () => {
  it('generate --json runs a character job to its file; jobs list and show --debug read it back', async () => {
    const generated = await cli(['generate', '--character', 'nova', '--conversation', 'cli-1', '--json', 'send me a selfie of you sketching']);
    expect(generated.code).toBe(0);
    const job = JSON.parse(generated.stdout) as {
      id: string;
      state: string;
      character: string;
      result: { files: Array<{ absolutePath: string; sha256: string }> };
    };
    expect(job).toMatchObject({ state: 'completed', character: 'nova' });
    const bytes = await readFile(job.result.files[0]!.absolutePath);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(job.result.files[0]!.sha256);

    const listed = await cli(['jobs', 'list', '--conversation', 'cli-1', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((j) => j.id)).toEqual([job.id]);

    const shown = await cli(['jobs', 'show', job.id, '--debug', '--json']);
    const document = JSON.parse(shown.stdout) as { debug: Record<string, unknown>; events: Array<{ seq: number }> };
    expect(document.debug).toMatchObject({
      workflow_used: 'nova_portrait',
      prompt_components: { user: 'send me a selfie of you sketching', character_triggers: expect.any(Array) },
      loras_applied: [expect.objectContaining({ name: 'nova_style_flux.safetensors', weight: 0.8 })],
      comfy_submission: { prompt_id: expect.any(String) },
      timing: { queue_wait_ms: expect.any(Number), generation_ms: expect.any(Number), file_move_ms: expect.any(Number), total_ms: expect.any(Number) },
    });
    expect(document.events.map((e) => e.seq)).toEqual(document.events.map((_, i) => i + 1));
  });

  it('plain generate prints where the file went; errors come with a code and a suggestion', async () => {
    const plain = await cli(['generate', '--workflow', 'no_model_test', '--conversation', 'cli-2', '--prompt', 'a red fox']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^image: .*\/conversations\/cli-2\/images\/[0-9a-f-]+\.png$/m);

    const missing = await cli(['generate', '--workflow', 'nope', '--conversation', 'cli-2', '--prompt', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/WORKFLOW_NOT_FOUND/);
    expect(missing.stderr).toMatch(/suggestion:/);

    const badFlag = await cli(['generate', '--colour', 'red']);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/INVALID_COMMAND/);

    const unknownJob = await cli(['jobs', 'show', 'no-such-job']);
    expect(unknownJob.code).toBe(1);
    expect(unknownJob.stderr).toMatch(/JOB_NOT_FOUND/);
  });

  it('demo runs every shipped character and model-free workflow to a file, embedded', async () => {
    const dir = join(root, 'demo');
    const demo = await cli(['demo', '--data-dir', dir, '--step-ms', '1']);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/nova \(nova_portrait\): completed/);
    expect(demo.stdout).toMatch(/alex \(alex_portrait\): completed/);
    for (const kind of ['images', 'videos', 'audio']) expect(demo.stdout).toMatch(new RegExp(`/conversations/demo-conversation/${kind}/`));
    // The timing line's parts add up to its total.
    for (const [, ...parts] of demo.stdout.matchAll(
      /timing: queue (\d+) ms \+ ComfyUI queue (\d+) ms \+ generation (\d+|—) ms \+ file move (\d+) ms = total (\d+) ms/g,
    )) {
      const [queue, comfy, generation, move, total] = parts.map((p) => (p === '—' ? 0 : Number(p)));
      expect(queue! + comfy! + generation! + move!).toBe(total);
    }
    expect(demo.stdout).toMatch(/timing: queue \d+ ms \+ ComfyUI queue/);
  });
});
