/**
 * Relative paths in a config file are relative to its folder, so two commands run from two
 * folders with one config file use one database: a `generate` started elsewhere goes to the
 * running `serve` instead of making a second database beside itself. And the commands that
 * only read the jobs (and doctor) create no database and no folder where none is. A config
 * whose relative `data_dir` named the project's database from the working folder before, and
 * names an empty place beside the config file now, is refused instead of starting anew there.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { repoRoot, runCli, startCli } from '../support/user-folder.js';

let base: string;
let sim: SimulatorHandle;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'cv-relpaths-'));
  sim = await startSimulator({ outputDir: join(base, 'comfy-output'), stepDelayMs: 1 });
});
afterAll(async () => {
  await sim?.close();
  await rm(base, { recursive: true, force: true });
});

describe('relative paths in a config file', () => {
  it('are relative to its folder: serve and generate run from two folders share one database', { timeout: 120_000 }, async () => {
    const rel = join(base, 'rel');
    const [cwdA, cwdB] = [join(base, 'a'), join(base, 'b')];
    await Promise.all([mkdir(rel), mkdir(cwdA), mkdir(cwdB)]);
    await writeFile(
      join(rel, 'rel.yaml'),
      [
        `comfyui:\n  url: "${sim.url}"\n  file_management:\n    output_directory: ../comfy-output`,
        'data_dir: data',
        `workflows_dir: ${join(repoRoot, 'workflows')}`,
        `characters_dir: ${join(repoRoot, 'config', 'characters')}`,
        'nats:\n  enabled: false',
        'http:\n  port: 0',
        '',
      ].join('\n'),
    );
    const serve = startCli(['serve', '--config', '../rel/rel.yaml', '--instance-id', 'rel-serve'], { cwd: cwdA });
    try {
      await serve.waitFor(/chorus-visual listening/, 60_000);
      const generated = await runCli(
        ['generate', '--config', '../rel/rel.yaml', '--workflow', 'no_model_test', '--conversation', 'c-rel', '--prompt', '--json', 'a lighthouse'],
        {
          cwd: cwdB,
        },
      );
      expect(generated.code, generated.stderr).toBe(0);
      expect(generated.stderr).toMatch(/^route: through the running service rel-serve \(pid \d+ on .*\) over HTTP http:/m);
      const job = JSON.parse(generated.stdout) as { state: string; result: { files: Array<{ absolutePath: string }> } };
      expect(job.state).toBe('completed');
      expect(job.result.files[0]!.absolutePath.startsWith(join(rel, 'data', 'conversations', 'c-rel'))).toBe(true);
      // The database is beside the config file; neither working folder got one.
      expect(await readdir(join(rel, 'data'))).toContain('chorus-visual.db');
      expect(await readdir(cwdA)).toEqual([]);
      expect(await readdir(cwdB)).toEqual([]);
      const listed = await runCli(['jobs', 'list', '--config', '../rel/rel.yaml', '--conversation', 'c-rel'], { cwd: cwdB });
      expect(listed.stdout).toMatch(/ no_model_test {2}c-rel /);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  it('given by a variable stay relative to the working folder', async () => {
    const rel = join(base, 'env-rel');
    const cwd = join(base, 'env-cwd');
    await Promise.all([mkdir(rel), mkdir(cwd)]);
    await writeFile(join(rel, 'cv.yaml'), 'data_dir: from-file\nnats:\n  enabled: false\n');
    const listed = await runCli(['jobs', 'list', '--config', join(rel, 'cv.yaml')], { cwd, env: { CHORUS_VISUAL_DATA_DIR: 'from-env' } });
    expect(listed.stderr).toContain(`no job database at ${join(cwd, 'from-env', 'chorus-visual.db')}`);
  });
});

describe('commands that only read', () => {
  it('create no database and no folder where there is none, and say so', { timeout: 60_000 }, async () => {
    const empty = join(base, 'empty');
    await mkdir(empty);
    const database = join(empty, 'data', 'chorus-visual.db');
    const env = { CHORUS_VISUAL_NATS_ENABLED: 'false' };

    const listed = await runCli(['jobs', 'list'], { cwd: empty, env });
    expect(listed).toMatchObject({ code: 0, stdout: 'no jobs\n' });
    expect(listed.stderr).toBe(
      `note: there is no job database at ${database} (nothing was created). Nothing has run with this config yet, or the config names another database: check --config, CHORUS_VISUAL_CONFIG and CHORUS_VISUAL_DATABASE_URL / CHORUS_VISUAL_DATA_DIR (a relative path in a config file is relative to its folder).\n`,
    );
    expect((await runCli(['jobs', 'list', '--json'], { cwd: empty, env })).stdout).toBe('[]\n');
    // Its options are still checked.
    expect((await runCli(['jobs', 'list', '--state', 'done'], { cwd: empty, env })).stderr).toMatch(/^error INVALID_COMMAND: "done" is not a job state/);

    for (const sub of ['show', 'watch', 'cancel', 'regenerate']) {
      const result = await runCli(['jobs', sub, 'abcdef12'], { cwd: empty, env });
      expect(result.code, sub).toBe(1);
      expect(result.stderr, sub).toMatch(
        new RegExp(`^error JOB_NOT_FOUND: no job with id abcdef12: there is no job database at ${database} \\(nothing was created\\)\\n`),
      );
    }
    expect((await runCli(['jobs', 'show'], { cwd: empty, env })).stderr).toMatch(/^error INVALID_COMMAND: a job id is needed/);

    const doctor = await runCli(['doctor', '--json'], { cwd: empty, env: { ...env, CHORUS_VISUAL_COMFYUI_URL: sim.url } });
    const findings = JSON.parse(doctor.stdout) as { findings: Array<{ subject: string; level: string; message: string }> };
    expect(findings.findings.find((f) => f.subject === 'database')).toMatchObject({
      level: 'ok',
      message: `sqlite:${database}: none yet, the first serve or generate creates it (${empty} is writable)`,
    });
    expect(findings.findings.find((f) => f.subject === 'data_dir')).toMatchObject({ level: 'ok', message: expect.stringContaining('does not exist yet') });

    expect(await readdir(empty)).toEqual([]);
  });
});

describe('a config whose relative data_dir read the old way names an existing database', () => {
  it('is refused by serve, generate and jobs list, naming both paths and creating nothing; written relative to the file it finds the old jobs', {
    timeout: 180_000,
  }, async () => {
    const project = join(base, 'project');
    const configs = join(project, 'config');
    await mkdir(configs, { recursive: true });
    const common = [
      `comfyui:\n  url: "${sim.url}"\n  file_management:\n    output_directory: ${join(base, 'comfy-output')}`,
      `workflows_dir: ${join(repoRoot, 'workflows')}`,
      `characters_dir: ${join(repoRoot, 'config', 'characters')}`,
      'nats:\n  enabled: false',
      'http:\n  port: 0',
    ];
    const writeConfig = (name: string, dataDir: string) => writeFile(join(configs, name), [...common, `data_dir: ${dataDir}`, ''].join('\n'));
    const generate = (config: string, conversation: string) =>
      runCli(['generate', '--config', config, '--workflow', 'no_model_test', '--conversation', conversation, '--json', '--prompt', 'a lighthouse'], {
        cwd: project,
      });

    // The project's database, as the old reading of `data_dir: data` from the project folder made it.
    const oldDatabase = join(project, 'data', 'chorus-visual.db');
    const newDatabase = join(configs, 'data', 'chorus-visual.db');
    await writeConfig('absolute.yaml', join(project, 'data'));
    const first = await generate('config/absolute.yaml', 'c-old');
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(oldDatabase)).toBe(true);
    await rm(join(configs, 'absolute.yaml'));

    await writeConfig('mine.yaml', 'data');
    const refusal = (stderr: string, command: string) => {
      expect(stderr, command).toContain('CONFIG_INVALID');
      expect(stderr, command).toContain(
        `config/mine.yaml says data_dir: data: relative paths in a config file now resolve against the file's folder (${configs}), so the job database is ${newDatabase}, which does not exist; read against the working folder, as before, it was ${oldDatabase}, where the existing job database is.`,
      );
      expect(stderr, command).toContain(`write \`data_dir: ../data\` (relative to ${configs}) or \`data_dir: ${join(project, 'data')}\``);
    };
    const serve = startCli(['serve', '--config', 'config/mine.yaml', '--instance-id', 'moved-serve'], { cwd: project });
    // (Before, it started on a new, empty database beside the config file.)
    const outcome = await Promise.race([serve.exited, serve.waitFor(/chorus-visual listening/, 60_000).then(() => 'listening' as const)]);
    if (outcome === 'listening') await serve.stop();
    expect(outcome).toBe(1);
    refusal(serve.output(), 'serve');
    const generated = await generate('config/mine.yaml', 'c-new');
    expect(generated.code).toBe(1);
    expect(generated.stderr).toMatch(/^error CONFIG_INVALID: /);
    refusal(generated.stderr, 'generate');
    const listed = await runCli(['jobs', 'list', '--config', 'config/mine.yaml'], { cwd: project });
    expect(listed).toMatchObject({ code: 1, stdout: '' });
    refusal(listed.stderr, 'jobs list');
    const doctor = await runCli(['doctor', '--json', '--config', 'config/mine.yaml'], { cwd: project });
    expect(doctor.code).toBe(1);
    const findings = JSON.parse(doctor.stdout) as { findings: Array<{ subject: string; level: string; message: string; fix?: string }> };
    expect(findings.findings.find((f) => f.subject === 'database')).toMatchObject({
      level: 'fail',
      message: expect.stringContaining(`so the job database is ${newDatabase}, which does not exist`),
      fix: expect.stringContaining('data_dir: ../data'),
    });
    // Nothing was made beside the config file.
    expect(await readdir(configs)).toEqual(['mine.yaml']);

    // Written relative to the config file, the same database: the old job is there, and serve and generate use it.
    await writeConfig('mine.yaml', '../data');
    const service = startCli(['serve', '--config', 'config/mine.yaml', '--instance-id', 'moved-serve'], { cwd: project });
    try {
      await service.waitFor(/chorus-visual listening/, 60_000);
      const again = await generate('config/mine.yaml', 'c-new');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/^route: through the running service moved-serve /m);
    } finally {
      expect(await service.stop()).toBe(0);
    }
    const both = await runCli(['jobs', 'list', '--config', 'config/mine.yaml'], { cwd: project });
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/ no_model_test {2}c-old /);
    expect(both.stdout).toMatch(/ no_model_test {2}c-new /);
    expect(await readdir(configs)).toEqual(['mine.yaml']);
  });
});
