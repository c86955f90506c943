/**
 * Several `generate` commands at once on one SQLite database with no `serve`: one takes the
 * driver lock and runs its job; the others are no service's clients — they wait for it to end
 * (saying so, bounded by --wait) and then run in their own process. A command that cannot wait
 * (`--wait 0`, `jobs cancel`) is told that another one-shot generate drives the database,
 * which pid, and what to do: never "the running service did not answer".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';
import { makeUserFolder, runCli, startCli, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
let sim: SimulatorHandle;
let nats: NatsTestServer;
let env: Record<string, string>;
let simDir: string;

beforeAll(async () => {
  folder = await makeUserFolder();
  simDir = await mkdtemp(join(tmpdir(), 'cv-concurrent-sim-'));
  sim = await startSimulator({ outputDir: join(simDir, 'output'), stepDelayMs: 1 });
  nats = await NatsTestServer.start();
  env = {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]`,
  };
}, 60_000);
afterAll(async () => {
  await sim?.close();
  await nats?.cleanup();
  await folder?.remove();
  await rm(simDir, { recursive: true, force: true });
});

const generateArgs = (conversation: string, extra: string[] = []) => [
  'generate',
  '--workflow',
  'no_model_test',
  '--conversation',
  conversation,
  '--prompt',
  '--json',
  ...extra,
  'a lighthouse',
];

describe('generate beside another generate, no serve', () => {
  it('four at once: each waits for the one driving the database, then runs its own job', { timeout: 180_000 }, async () => {
    sim.faults.executionDelayMs(1_500);
    try {
      const runs = await Promise.all([1, 2, 3, 4].map((n) => runCli(generateArgs(`c-four-${n}`), { cwd: folder.dir, env, timeoutMs: 150_000 })));
      for (const run of runs) {
        expect(run.code, run.stderr).toBe(0);
        expect((JSON.parse(run.stdout) as { state: string }).state).toBe('completed');
        expect(run.stderr).toMatch(/^route: in this process \(no service drives sqlite:.*chorus-visual\.db\)$/m);
        expect(run.stderr).not.toMatch(/running service|STORE_LOCKED/);
      }
      const waited = runs.filter((run) => run.stderr.includes('waiting: '));
      expect(waited.length).toBeGreaterThanOrEqual(1);
      expect(waited[0]!.stderr).toMatch(
        /^waiting: the job database \S+chorus-visual\.db is driven by another one-shot `generate` \(pid \d+ on .*, since .*\); this generate runs here once it ends \(waiting at most 600 s, --wait\)$/m,
      );
    } finally {
      sim.faults.executionDelayMs(0);
    }
  });

  it('with --wait 0, and jobs cancel, names the generate that holds the database', { timeout: 120_000 }, async () => {
    sim.faults.executionDelayMs(30_000);
    const first = startCli(generateArgs('c-holder'), { cwd: folder.dir, env });
    try {
      await first.waitFor(/^route: in this process/, 60_000);
      const pid = first.child.pid!;
      const impatient = await runCli(generateArgs('c-impatient', ['--wait', '0']), { cwd: folder.dir, env });
      expect(impatient.code).toBe(1);
      expect(impatient.stderr).toMatch(
        new RegExp(
          `^error STORE_LOCKED: the job database \\S+chorus-visual\\.db is still driven by another one-shot \`generate\` \\(pid ${pid} on .*\\) after waiting 0 s \\(--wait\\); it takes no commands\\nsuggestion: .*chorus-visual serve`,
        ),
      );
      const listed = JSON.parse((await runCli(['jobs', 'list', '--conversation', 'c-holder', '--json'], { cwd: folder.dir, env })).stdout) as Array<{
        id: string;
      }>;
      const cancel = await runCli(['jobs', 'cancel', listed[0]!.id], { cwd: folder.dir, env });
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toMatch(new RegExp(`^error STORE_LOCKED: .* by another one-shot \`generate\` \\(pid ${pid} on .*\\), which takes no commands\\n`));
      expect(cancel.stderr).toContain(`kill ${pid}`);
      expect(cancel.stderr).not.toMatch(/running service/);
    } finally {
      sim.faults.executionDelayMs(0);
      await first.stop();
    }
  });
});
