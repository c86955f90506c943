/**
 * `npx chorus-visual demo` as a person runs it: the compiled CLI, from a folder of their own
 * that holds nothing of chorus-visual. The demo finds its shipped workflows and characters
 * where the package is installed, and a failure after its simulator has started is reported
 * (code, message, exit 1) and ends the process instead of leaving it hanging on open sockets.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/user-folder.js';

let base: string;
let elsewhere: string;
/** TMPDIR for the demo: the temporary folder it makes lands here and goes with the test's. */
let env: Record<string, string>;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'cv-demo-anywhere-'));
  elsewhere = join(base, 'somewhere-else');
  await mkdir(elsewhere);
  await mkdir(join(base, 'tmp'));
  env = { TMPDIR: join(base, 'tmp') };
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function listenOnAFreePort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('chorus-visual demo from a folder that is not the project', () => {
  it('runs the shipped characters and workflows to their files, and writes nothing into the folder it was run from', async () => {
    const demo = await runCli(['demo', '--step-ms', '1'], { cwd: elsewhere, env, timeoutMs: 60_000 });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/nova \(nova_portrait\): completed/);
    expect(demo.stdout).toMatch(/alex \(alex_portrait\): completed/);
    for (const kind of ['images', 'videos', 'audio']) {
      expect(demo.stdout).toMatch(new RegExp(`${join(base, 'tmp')}/chorus-visual-demo-\\w+/data/conversations/demo-conversation/${kind}/`));
    }
    expect(await readdir(elsewhere)).toEqual([]);
  }, 90_000);

  it('a failure after the simulator has started is reported and ends the process', async () => {
    // The inspector's port taken: startApp refuses it once the simulator is already listening.
    const { server, port } = await listenOnAFreePort();
    const demo = startCli(['demo', '--http-port', String(port), '--step-ms', '1'], { cwd: elsewhere, env });
    try {
      const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref());
      const code = await Promise.race([demo.exited, hung]);
      expect(code, demo.output()).toBe(1);
      expect(demo.output()).toMatch(/ComfyUI simulator {3}http:\/\/127\.0\.0\.1:\d+/);
      expect(demo.output()).toMatch(new RegExp(`^error CONFIG_INVALID: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'));
      expect(demo.output()).toMatch(/^suggestion: /m);
    } finally {
      await demo.stop();
      server.close();
    }
  }, 30_000);
});
