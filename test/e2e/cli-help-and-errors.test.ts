/**
 * The command line as a first-time user meets it, each call its own process: every command
 * and subcommand answers --help (exit 0, options described, usage once); --version; typos
 * of commands, options, states, characters and workflows get "did you mean"; errors are a
 * code, a message and a suggestion, never a stack.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUserFolder, repoRoot, runCli, type CliResult, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
// A closed port: nothing here needs ComfyUI, and nothing may reach someone else's.
const env = { CHORUS_VISUAL_COMFYUI_URL: 'http://127.0.0.1:9', CHORUS_VISUAL_NATS_ENABLED: 'false' };

beforeAll(async () => {
  folder = await makeUserFolder();
});
afterAll(async () => {
  await folder.remove();
});

/** Two at a time: the machine's cores are shared, and each process starts a TypeScript loader. */
async function runAll(argsList: string[][]): Promise<CliResult[]> {
  const results: CliResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < argsList.length) {
      const i = next++;
      results[i] = await runCli(argsList[i]!, { cwd: folder.dir, env, timeoutMs: 60_000 });
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);

describe('chorus-visual --help, --version, typos', () => {
  it('answers --help on every command and subcommand with exit 0, the options described, usage once', async () => {
    const commands = [
      ['--help'],
      ['serve', '--help'],
      ['demo', '--help'],
      ['generate', '--help'],
      ['jobs', '--help'],
      ['jobs', 'list', '--help'],
      ['jobs', 'show', '--help'],
      ['jobs', 'watch', '-h'],
      ['jobs', 'cancel', '--help'],
      ['jobs', 'regenerate', '--help'],
      ['workflows', '--help'],
      ['workflows', 'list', '--help'],
      ['workflows', 'validate', '--help'],
      ['simulate', '--help'],
      ['doctor', '--help'],
    ];
    const results = await runAll(commands);
    results.forEach((result, i) => {
      const label = commands[i]!.join(' ');
      expect({ label, code: result.code, stderr: result.stderr }).toEqual({ label, code: 0, stderr: '' });
      expect(result.stdout.match(/usage:/g), label).toHaveLength(1);
      if (i > 0) expect(result.stdout, label).toMatch(/options:\n(\s+(-h, )?--[a-z-]+.*\S.*\n)+/);
    });
    expect(results[0]!.stdout).toMatch(/doctor\s+check the configuration/);
    expect(results[0]!.stdout).toMatch(/jobs\s+jobs list \| show <id> \| watch <id> \| cancel <id> \| regenerate <id>\n/);
  }, 300_000);

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version'], { cwd: folder.dir, env });
    expect(result).toMatchObject({ code: 0, stdout: `chorus-visual ${version}\n` });
  }, 60_000);

  it('typos get "did you mean", as a structured error without a stack', async () => {
    // A generate that reached admission first says which way it went (`route: …`, one line).
    const cases: Array<[string[], RegExp, RegExp]> = [
      [['genrate'], /^error INVALID_COMMAND: unknown command "genrate"/, /suggestion: did you mean "generate"\?/],
      [['generate', '--charactr', 'nova', '--conversation', 'c1', 'hi'], /^error INVALID_COMMAND: Unknown option '--charactr'/, /did you mean "--character"\?/],
      [['jobs', 'lst'], /^error INVALID_COMMAND: unknown jobs command "lst"/, /did you mean "list"\?/],
      [['jobs', 'list', '--state', 'faild'], /^error INVALID_COMMAND: "faild" is not a job state/, /did you mean "failed"\?/],
      [
        ['generate', '--character', 'novaa', '--conversation', 'c1', 'hi'],
        /^(route: .*\n)?error CHARACTER_NOT_FOUND: Character "novaa" does not exist/,
        /did you mean "nova"\?/,
      ],
      [
        ['generate', '--workflow', 'no_model_tst', '--conversation', 'c1', '--prompt', 'x'],
        /^(route: .*\n)?error WORKFLOW_NOT_FOUND/,
        /did you mean "no_model_test"\?/,
      ],
      [['jobs', 'show', 'f831e'], /^error INVALID_COMMAND: "f831e" is too short/, /at least 6 characters/],
      [['jobs', 'show', 'f831ec54'], /^error JOB_NOT_FOUND: no job with id f831ec54/, /jobs list/],
    ];
    const results = await runAll(cases.map(([args]) => args));
    results.forEach((result, i) => {
      const [args, message, suggestion] = cases[i]!;
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr, args.join(' ')).toMatch(suggestion);
      noStack(result.stderr);
    });
  }, 300_000);
});
