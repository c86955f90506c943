/**
 * `workflows list|validate` read the config like every command, each call its own process
 * (bin/chorus-visual.js) from a folder that has no ./workflows: `--config FILE` and
 * CHORUS_VISUAL_CONFIG choose the file whose workflows_dir is read, `--dir DIR` still wins,
 * a folder that is not there is an error naming where it came from, and typos get "did you
 * mean" with exit 1. Also `doctor` naming the config file it actually read.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli, type CliResult } from '../support/user-folder.js';

let dir: string;
// A closed port and no NATS: nothing here may reach a real ComfyUI or bus.
const env = { CHORUS_VISUAL_COMFYUI_URL: 'http://127.0.0.1:9', CHORUS_VISUAL_NATS_ENABLED: 'false' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cv-wf-config-'));
  // Only `wf/` holds workflows; `./workflows` (the default) does not exist here.
  await mkdir(join(dir, 'wf'));
  await cp(join(repoRoot, 'workflows', 'no_model_test.json'), join(dir, 'wf', 'no_model_test.json'));
  await writeFile(join(dir, 'cfg.yaml'), 'workflows_dir: wf\n');
  // A dot inside a name, and names no request could use (the command schemas' rule).
  await mkdir(join(dir, 'names'));
  for (const name of ['no_model_test', 'a.b', 'café', 'my workflow', '-dash'])
    await cp(join(repoRoot, 'workflows', 'no_model_test.json'), join(dir, 'names', `${name}.json`));
  await writeFile(join(dir, 'bad.yaml'), 'workflows_dir: missing\n');
  await writeFile(join(dir, 'plain.yaml'), 'data_dir: data\n');
  // no_model_test.json's graph has 4 nodes, and the file more than 100 bytes: over both of these limits.
  await writeFile(join(dir, 'few-nodes.yaml'), 'workflows_dir: wf\nlimits:\n  max_workflow_nodes: 2\n');
  await writeFile(join(dir, 'few-bytes.yaml'), 'workflows_dir: wf\nlimits:\n  max_workflow_bytes: 100\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Two at a time: the machine's cores are shared, and each process starts node. */
async function runAll(cases: Array<{ args: string[]; env?: Record<string, string> }>): Promise<CliResult[]> {
  const results: CliResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCli(cases[i]!.args, { cwd: dir, env: { ...env, ...cases[i]!.env }, timeoutMs: 60_000 });
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

const listed = /^no_model_test\s+image\s+\(no model\)\n$/;

describe('workflows list|validate and the config', () => {
  it('read the workflows_dir of --config FILE or CHORUS_VISUAL_CONFIG; --dir still chooses the folder', async () => {
    const [byOption, byEnv, validate, byDir, byVariable] = await runAll([
      { args: ['workflows', 'list', '--config', 'cfg.yaml'] },
      { args: ['workflows', 'list'], env: { CHORUS_VISUAL_CONFIG: 'cfg.yaml' } },
      { args: ['workflows', 'validate', 'no_model_test', '--config', 'cfg.yaml'] },
      // The config names a folder that is not there; --dir overrides it.
      { args: ['workflows', 'list', '--dir', 'wf', '--config', 'bad.yaml'] },
      { args: ['workflows', 'list'], env: { CHORUS_VISUAL_WORKFLOWS_DIR: 'wf' } },
    ]);
    for (const result of [byOption, byEnv, byDir, byVariable]) {
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result!.stdout).toMatch(listed);
    }
    expect(validate).toMatchObject({ code: 0, stderr: '' });
    expect(validate!.stdout).toMatch(/✓ no_model_test \(image\), structure only\n[\s\S]*all workflows valid/);
  }, 120_000);

  it("apply the config's limits.max_workflow_nodes and max_workflow_bytes, as the service does", async () => {
    const [validateAll, validateOne, listNodes, listBytes] = await runAll([
      { args: ['workflows', 'validate', '--config', 'few-nodes.yaml'] },
      { args: ['workflows', 'validate', 'no_model_test', '--config', 'few-nodes.yaml'] },
      { args: ['workflows', 'list', '--config', 'few-nodes.yaml'] },
      { args: ['workflows', 'list', '--config', 'few-bytes.yaml'] },
    ]);
    const file = join(dir, 'wf', 'no_model_test.json');
    const nodesReason = 'the graph has 4 nodes, more than limits.max_workflow_nodes (2)';
    for (const result of [validateAll, validateOne])
      expect(result).toMatchObject({ code: 1, stderr: '', stdout: `✗ ${file}\n    ${nodesReason}\nvalidation failed\n` });
    expect(listNodes).toMatchObject({ code: 0, stderr: '', stdout: `! ${file}: ${nodesReason}\n` });
    expect(listBytes).toMatchObject({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(/^! \S+: the file is \d+ bytes, more than limits\.max_workflow_bytes \(100\)\n$/),
    });
  }, 120_000);

  it('a folder that is not there: exit 1, the error names where it came from and what to change', async () => {
    const [fromKey, fromOption, fromVariable, fromDefault, keyUnset] = await runAll([
      { args: ['workflows', 'list'], env: { CHORUS_VISUAL_CONFIG: 'bad.yaml' } },
      { args: ['workflows', 'validate', '--dir', 'nowhere', '--config', 'cfg.yaml'] },
      { args: ['workflows', 'list', '--config', 'cfg.yaml'], env: { CHORUS_VISUAL_WORKFLOWS_DIR: 'gone' } },
      { args: ['workflows', 'list'] },
      { args: ['workflows', 'list', '--config', 'plain.yaml'] },
    ]);
    for (const result of [fromKey, fromOption, fromVariable, fromDefault, keyUnset]) {
      expect(result!.code).toBe(1);
      expect(result!.stdout).toBe('');
    }
    expect(fromKey!.stderr).toBe(
      `error CONFIG_INVALID: the workflows folder ${join(dir, 'missing')} does not exist (workflows_dir in bad.yaml)\n` +
        'suggestion: set workflows_dir in bad.yaml to the folder of workflow files, or give --dir DIR\n',
    );
    expect(fromOption!.stderr).toBe(
      `error INVALID_COMMAND: the workflows folder ${join(dir, 'nowhere')} does not exist (given by --dir)\n` +
        "suggestion: give --dir an existing folder of workflow files, or leave it out to use the config's workflows_dir\n",
    );
    expect(fromVariable!.stderr).toMatch(/^error CONFIG_INVALID: the workflows folder \S+\/gone does not exist \(set by CHORUS_VISUAL_WORKFLOWS_DIR\)\n/);
    expect(fromDefault!.stderr).toMatch(
      /^error CONFIG_INVALID: the workflows folder \S+\/workflows does not exist \(the default of workflows_dir; no config file at config\/chorus-visual\.yaml\)\nsuggestion: .*--config FILE.*--dir DIR\n$/,
    );
    expect(keyUnset!.stderr).toMatch(/\(the default of workflows_dir; plain\.yaml does not set it\)\n/);
  }, 120_000);

  it('typos and misuse: "did you mean" or a suggestion, as a structured error with exit 1', async () => {
    const cases: Array<[string[], string]> = [
      [['workflows', 'lst'], 'error INVALID_COMMAND: unknown workflows command "lst"\nsuggestion: did you mean "list"?\n'],
      [['workflows', 'list', '--dri', 'wf'], `error INVALID_COMMAND: Unknown option '--dri'\nsuggestion: did you mean "--dir"?\n`],
      [['workflows', 'validate', '--confg', 'cfg.yaml'], `error INVALID_COMMAND: Unknown option '--confg'\nsuggestion: did you mean "--config"?\n`],
      [['workflows'], 'error INVALID_COMMAND: workflows needs a subcommand\nsuggestion: use one of: workflows list, workflows validate [name]\n'],
      [
        ['workflows', 'validate', '--dir', 'wf', '--backend', 'not-a-url'],
        'error INVALID_COMMAND: --backend must be a ComfyUI server\'s http:// or https:// URL, not "not-a-url"\nsuggestion: e.g. --backend http://127.0.0.1:8188, or leave it out for structural checks only\n',
      ],
      [
        ['workflows', 'validate', '--dir', 'wf', '--timeout', 'soon'],
        'error INVALID_COMMAND: --timeout must be a whole number of milliseconds above 0, not "soon"\nsuggestion: leave it out for 10000\n',
      ],
    ];
    const results = await runAll(cases.map(([args]) => ({ args })));
    results.forEach((result, i) => {
      const [args, stderr] = cases[i]!;
      expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ args, code: 1, stdout: '', stderr });
    });
  }, 120_000);
});

describe('workflow names', () => {
  it('a.b is the file a.b.json; café, "my workflow" and -dash are reported as unusable by list, validate and doctor', async () => {
    const names = { CHORUS_VISUAL_WORKFLOWS_DIR: 'names' };
    const [list, validateAll, validateDotted, validateCafe, asFileName, doctor] = await runAll([
      { args: ['workflows', 'list'], env: names },
      { args: ['workflows', 'validate'], env: names },
      { args: ['workflows', 'validate', 'a.b'], env: names },
      { args: ['workflows', 'validate', 'café'], env: names },
      { args: ['workflows', 'validate', 'no_model_test.json'], env: names },
      { args: ['doctor', '--json'], env: names },
    ]);
    const unusable = (name: string) =>
      `${join(dir, 'names', `${name}.json`)}: "${name}" cannot be a workflow name: it ${name === '-dash' ? 'does not start with a letter (a-z, A-Z) or digit' : `contains "${name === 'café' ? 'é' : ' '}"`}; rename the file`;
    expect(
      list!.stdout
        .split('\n')
        .filter((line) => !line.startsWith('!'))
        .map((line) => line.split(/\s+/)[0]),
    ).toEqual(['a.b', 'no_model_test', '']);
    for (const name of ['-dash', 'café', 'my workflow']) expect(list!.stdout).toContain(`! ${unusable(name)}`);
    expect(validateAll!.code).toBe(1);
    expect(validateAll!.stdout).toMatch(/✓ a\.b \(image\), structure only/);
    expect(validateAll!.stdout).not.toMatch(/✓ (café|my workflow|-dash) /);
    expect(validateAll!.stdout).toContain(`✗ ${join(dir, 'names', 'café.json')}\n    "café" cannot be a workflow name`);
    expect(validateAll!.stdout).toMatch(/validation failed\n$/);
    expect({ code: validateDotted!.code, stdout: validateDotted!.stdout }).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^✓ a\.b \(image\)[\s\S]*all workflows valid\n$/),
    });
    expect(validateCafe!.code).toBe(1);
    expect(validateCafe!.stdout).toContain('"café" cannot be a workflow name: it contains "é"');
    expect(asFileName!.code).toBe(1);
    expect(asFileName!.stderr).toMatch(
      /^error WORKFLOW_NOT_FOUND: Workflow "no_model_test\.json" does not exist\.\nsuggestion: did you mean "no_model_test"\? A workflow is named by its file's name without "\.json"\.\navailable: a\.b, no_model_test\n$/,
    );
    const findings = (JSON.parse(doctor!.stdout) as { findings: Array<{ level: string; subject: string; message: string }> }).findings;
    for (const name of ['-dash', 'café', 'my workflow'])
      expect(findings).toContainEqual(expect.objectContaining({ level: 'warn', subject: 'workflows', message: expect.stringContaining(unusable(name)) }));
  }, 120_000);
});

describe('doctor names the config file it read', () => {
  it('the file given by --config when it exists; "no config file" when the default is absent', async () => {
    const configFinding = (result: CliResult) =>
      (JSON.parse(result.stdout) as { findings: Array<{ subject: string; message: string }> }).findings.find((f) => f.subject === 'config')?.message;
    const [given, absent] = await runAll([{ args: ['doctor', '--json', '--config', 'cfg.yaml'] }, { args: ['doctor', '--json'] }]);
    expect(configFinding(given!)).toBe('cfg.yaml + CHORUS_VISUAL_* + defaults: valid');
    expect(configFinding(absent!)).toBe('no config file (config/chorus-visual.yaml does not exist) + CHORUS_VISUAL_* + defaults: valid');
  }, 120_000);
});
