import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
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

  it('rejects a bad port with a usage message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'simulate', '--port', 'abc'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('--port');
  }, 30000);
});
