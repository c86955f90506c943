/**
 * Two `serve` processes started with one --instance-id on one PostgreSQL database, as a
 * deployment would by running `--instance-id "$(hostname)"` twice on a host: the second is
 * refused at start with STORE_LOCKED (before, it started, both drove the id's jobs, and when
 * one died the other kept its lease alive, so nobody took its jobs over). And a restart
 * under the id of a process that was SIGKILLed still starts (once that process's lease lapsed).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { createPostgresSchema, testPostgresUrl } from './db-test-fixtures.js';

describe.skipIf(testPostgresUrl === 'off')('serve refuses an instance id another running instance holds', () => {
  let root: string;
  let schema: Awaited<ReturnType<typeof createPostgresSchema>>;
  let sim: SimulatorHandle;
  const procs: ServiceProcess[] = [];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cv-dup-id-'));
    [schema, sim] = await Promise.all([createPostgresSchema(), startSimulator({ outputDir: join(root, 'comfy', 'output'), previews: false })]);
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((proc) => proc.kill('SIGKILL')));
    await sim.close();
    await schema.drop();
    await rm(root, { recursive: true, force: true });
  });

  const serve = () => {
    const proc = startServiceProcess(['serve', '--no-nats', '--lease-ttl', '10', '--instance-id', 'host-1'], {
      CHORUS_VISUAL_DATABASE_URL: schema.url,
      CHORUS_VISUAL_COMFYUI_BACKENDS: JSON.stringify([{ name: 'gpu', url: sim.url, max_concurrent: 1, output_directory: sim.outputDir }]),
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_HTTP_PORT: '0',
      CHORUS_VISUAL_LOG_LEVEL: 'info',
    });
    procs.push(proc);
    return proc;
  };

  it('refuses the second process; a restart after a SIGKILL takes the id once its lease lapsed', { timeout: 90_000 }, async () => {
    const first = serve();
    await first.waitForLine(/chorus-visual listening/, 60_000);

    const second = serve();
    const outcome = await Promise.race([second.exited, second.waitForLine(/chorus-visual listening/, 60_000).then(() => 'listening')]);
    expect(outcome).toBe(1);
    expect(second.lines.join('\n')).toMatch(/error STORE_LOCKED: instance id "host-1" is in use: another running instance renews it/);
    expect(second.lines.some((line) => /chorus-visual listening/.test(line))).toBe(false);

    // Restarted under the id of the killed one: it starts once that run's lease lapsed (it says so
    // while it waits, when its own start is quicker than the lapse; instance-id-claim.test.ts
    // holds the wait itself, without a process start's time in the way).
    await first.kill('SIGKILL');
    const restarted = serve();
    await restarted.waitForLine(/chorus-visual listening/, 60_000);
  });
});
