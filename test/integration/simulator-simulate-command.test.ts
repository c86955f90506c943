import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

const root = join(import.meta.dirname, '..', '..');

describe('chorus-visual simulate', () => {
  it('serves ComfyUI on the given port with the given output dir and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'simulate', '--port', '0', '--output-dir', join(dir, 'output'), '--step-ms', '0'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
      });
      expect(((await (await fetch(`${url}/system_stats`)).json()) as any).system.comfyui_version).toBe('0.3.64');
      const socket = await RecordingSocket.open(url, 'cli', '/api/ws');
      const res = await fetch(`${url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({
          client_id: 'cli',
          prompt: {
            '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
            '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'cli' } },
          },
        }),
      });
      await socket.waitForEnd(((await res.json()) as { prompt_id: string }).prompt_id, 10000);
      expect(existsSync(join(dir, 'output', 'cli_00001_.png'))).toBe(true);
      await socket.close();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('simulator stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);

  /** `simulate` with these arguments, to its exit: code and stderr. */
  async function simulateFails(args: string[]): Promise<{ code: number | null; err: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'simulate', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, err };
  }

  it('bad options fail as every command does: error CODE, "did you mean", exit 1, no stack', async () => {
    const cases: Array<[string[], RegExp, RegExp]> = [
      [['--port', '99999'], /^error INVALID_COMMAND: --port must be a whole number from 0 to 65535, not "99999"$/m, /^suggestion: e\.g\. --port 8188/m],
      [['--port', 'abc'], /^error INVALID_COMMAND: --port must be a whole number/m, /^suggestion: /m],
      [['--prot', '8188'], /^error INVALID_COMMAND: Unknown option '--prot'/m, /^suggestion: did you mean "--port"\?$/m],
      [['--step-ms=-1'], /^error INVALID_COMMAND: --step-ms must be a number of milliseconds/m, /^suggestion: /m],
      [['8188'], /^error INVALID_COMMAND: simulate takes no arguments, but got "8188"/m, /^suggestion: see `chorus-visual simulate --help`/m],
    ];
    for (const [args, message, suggestion] of cases) {
      const { code, err } = await simulateFails(args);
      expect({ args, code }).toEqual({ args, code: 1 });
      expect(err, args.join(' ')).toMatch(message);
      expect(err, args.join(' ')).toMatch(suggestion);
      expect(err).not.toMatch(/\n\s+at /);
    }
  }, 120000);

  it('a port in use is CONFIG_INVALID as serve says it for http.port, not an internal error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const { code, err } = await simulateFails(['--port', String(port), '--step-ms', '0']);
      expect(code).toBe(1);
      expect(err).toMatch(new RegExp(`^error CONFIG_INVALID: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'));
      expect(err).toMatch(/^suggestion: .*pick another --port/m);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 60000);

  it('--output-dir naming a file (or under one) is CONFIG_INVALID naming it, not an internal error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    try {
      const file = join(dir, 'a-file');
      writeFileSync(file, 'not a folder\n');
      const onFile = await simulateFails(['--port', '0', '--output-dir', file]);
      expect(onFile.code).toBe(1);
      expect(onFile.err).toMatch(new RegExp(`^error CONFIG_INVALID: --output-dir ${file} is a file, not a folder$`, 'm'));
      expect(onFile.err).toMatch(/^suggestion: /m);
      const under = await simulateFails(['--port', '0', '--output-dir', join(file, 'output')]);
      expect(under.code).toBe(1);
      expect(under.err).toMatch(new RegExp(`^error CONFIG_INVALID: cannot make the simulator's folder ${join(file, 'output')}: ENOTDIR$`, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
