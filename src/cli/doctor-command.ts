/**
 * `chorus-visual doctor`: the effective configuration (file + CHORUS_VISUAL_* + defaults,
 * secrets redacted) and a check of every dependency — each ComfyUI backend, NATS, the
 * database, the data folder, the LLM, the workflows and characters — with what to fix.
 * Exit 1 when something needed is missing.
 */
import { stringify as toYaml } from 'yaml';
import { configFilePath, type ResolvedConfig } from '../config/index.js';
import { isChorusError, type ChorusError } from '../errors/index.js';
import { parseCommandArgs, type CommandHelp } from './cli-args.js';
import { checkBackend, checkDataDir, checkDatabase, checkDefinitions, checkLlm, checkNats, type Finding } from './doctor-checks.js';
import { configFileInUse, readCliConfig } from './load-cli-config.js';

const help: CommandHelp = {
  usage: 'chorus-visual doctor [options]',
  summary:
    'Checks the effective configuration and every dependency (each ComfyUI backend: version, models, whether its output folder is here and which file mode auto will use; NATS and JetStream; the database; the data folder; the LLM; workflows and characters) and prints what to fix. Exit 1 when something needed is missing.',
  options: {
    config: 'FILE  the config file (default config/chorus-visual.yaml, or CHORUS_VISUAL_CONFIG)',
    json: 'print the configuration and findings as JSON',
  },
};

const secretKeys = new Set(['pass', 'token', 'api_key']);

/** A copy safe to print: passwords, tokens and API keys replaced; a database URL's password too. */
export function redactConfig(config: ResolvedConfig): Record<string, unknown> {
  const { resolvedBackends: _b, collectMode: _c, localCollectMode: _l, ...plain } = config;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, secretKeys.has(key) && child !== undefined ? '***' : walk(child)]));
  };
  const copy = walk(plain) as { database: { url: unknown } } & Record<string, unknown>;
  copy.database.url = String(copy.database.url).replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  return copy;
}

const marks: Record<Finding['level'], string> = { ok: '✓', warn: '!', fail: '✗' };

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string' }, json: { type: 'boolean' } }, help);
  let config: ResolvedConfig;
  let leftBehind: ChorusError | undefined;
  try {
    ({ config, leftBehind } = await readCliConfig(values.config));
  } catch (error) {
    if (!isChorusError(error)) throw error;
    process.stdout.write(`✗ config  ${error.message}\n    fix: ${error.suggestion ?? 'correct the named key'}\n1 problem needs fixing\n`);
    return 1;
  }
  const configFile = await configFileInUse(values.config);
  const findings: Finding[] = [
    {
      level: 'ok',
      subject: 'config',
      message: `${configFile === undefined ? `no config file (${configFilePath(values.config)} does not exist)` : configFile} + CHORUS_VISUAL_* + defaults: valid`,
    },
  ];
  const groups = await Promise.all([
    ...config.resolvedBackends.map((backend) => checkBackend(config, backend)),
    checkNats(config),
    checkDatabase(config, leftBehind),
    checkDataDir(config),
    checkLlm(config),
    checkDefinitions(config, configFile),
  ]);
  findings.push(...groups.flat());
  const failed = findings.filter((f) => f.level === 'fail').length;

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ config: redactConfig(config), findings, ok: failed === 0 }, null, 2)}\n`);
    return failed === 0 ? 0 : 1;
  }
  const out = process.stdout;
  out.write(`effective configuration (secrets redacted):\n${toYaml(redactConfig(config), { indent: 2 }).replace(/^/gm, '  ')}\nchecks:\n`);
  const width = Math.max(...findings.map((f) => f.subject.length)) + 2;
  for (const finding of findings) {
    out.write(`  ${marks[finding.level]} ${finding.subject.padEnd(width)}${finding.message}\n`);
    if (finding.fix && finding.level !== 'ok') out.write(`    ${' '.repeat(width + 2)}fix: ${finding.fix}\n`);
  }
  out.write(failed === 0 ? '\neverything needed is there\n' : `\n${failed} problem${failed === 1 ? '' : 's'} need${failed === 1 ? 's' : ''} fixing\n`);
  return failed === 0 ? 0 : 1;
}
