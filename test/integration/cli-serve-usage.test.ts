/**
 * `serve`'s usage names its flags as they parse: `--inspect` is a switch and the inspector's
 * address is `--inspect-url`, so the text a person copies from the usage works.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

it('refuses an unknown serve flag with a usage whose --inspect flags are the ones serve parses', async () => {
  const failed = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--no-such-flag'], { cwd: repoRoot, timeout: 60_000 }).then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  expect(failed?.code).toBe(1);
  expect(failed?.stderr).toContain('[--inspect] [--inspect-url WS_URL]');
  expect(failed?.stderr).not.toContain('--inspect [WS_URL]');
});
