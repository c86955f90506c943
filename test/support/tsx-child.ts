/**
 * Runs an ES module program (TypeScript imports allowed) in a child `node --import tsx`
 * process — a separate process as a second CLI command or service would be — and parses the
 * JSON it writes to stdout. A non-zero exit rejects with its stderr.
 */
import { spawn } from 'node:child_process';

export function runTsxChild<T>(program: string, args: string[], name = 'child'): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program, '--', ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    // 'close', not 'exit': only then is all of stdout read.
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as T);
      else reject(new Error(`${name} exited with ${String(code)}: ${stderr}`));
    });
  });
}
