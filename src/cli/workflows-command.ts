/**
 * `chorus-visual workflows list` and `chorus-visual workflows validate [name] [--backend URL]`.
 * The folder is the config's `workflows_dir` (`--config FILE`, CHORUS_VISUAL_CONFIG and
 * CHORUS_VISUAL_WORKFLOWS_DIR, as for every command), or `--dir DIR`. Validation is
 * structural, plus `/object_info` checks when a backend is given; the exit code is 1 when
 * any workflow has errors, so it can gate a deploy.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CharacterRegistry } from '../characters/index.js';
import { configFilePath } from '../config/index.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { LoraSpec } from '../workflows/character-lora-chain.js';
import { fetchObjectInfo } from '../workflows/object-info-fetcher.js';
import type { ObjectInfo } from '../workflows/object-info-spec.js';
import { validateAgainstObjectInfo } from '../workflows/object-info-validator.js';
import { validateStructure } from '../workflows/structure-validator.js';
import type { ValidationIssue, WorkflowDefinition } from '../workflows/workflow-definition.js';
import { WorkflowLibrary, type WorkflowLibraryOptions, workflowNameOf } from '../workflows/workflow-library.js';
import { didYouMean, formatHelp, HelpShown, parseCommandArgs, type CommandHelp } from './cli-args.js';
import { configFileInUse, readCliConfig } from './load-cli-config.js';

const folderOptions = {
  config: 'FILE  the config file (default config/chorus-visual.yaml, or CHORUS_VISUAL_CONFIG); its workflows_dir is the folder',
  dir: "DIR  the workflows folder, instead of the config's workflows_dir",
};
const timeoutOption = { timeout: 'MS  how long to wait for the backend (default 10000)' };

const helps: Record<string, CommandHelp> = {
  list: {
    usage: 'chorus-visual workflows list [options]',
    summary: 'Lists each workflow with its type, models and LoRAs, and every file that failed to load.',
    options: { ...folderOptions, backend: 'URL  a ComfyUI whose /object_info converts UI-format workflows, e.g. http://127.0.0.1:8188', ...timeoutOption },
  },
  validate: {
    usage: 'chorus-visual workflows validate [name] [options]',
    summary:
      "Checks structure (links, output node, placeholders, misspelt tokens, cycles), and with --backend also against that ComfyUI's /object_info (node classes, inputs, models, LoRAs); exit 1 on any error.",
    options: {
      ...folderOptions,
      backend: 'URL  a ComfyUI to check against (its /object_info), e.g. http://127.0.0.1:8188',
      characters: 'DIR  also check the characters: their default workflows exist, their LoRAs are on the backend',
      ...timeoutOption,
    },
  },
};

const overview: CommandHelp = {
  usage: 'chorus-visual workflows <list|validate> [options]',
  summary: "Reads the workflow files in the config's workflows_dir (or --dir DIR).",
  options: {},
  more: 'subcommands:\n  list             each workflow with its type, models and LoRAs\n  validate [name]  check every workflow, or one (--backend URL: against a ComfyUI too)\n\n`chorus-visual workflows <subcommand> --help` describes its options.',
};

type Out = { write(text: string): unknown };

const options = {
  config: { type: 'string' },
  dir: { type: 'string' },
  backend: { type: 'string' },
  characters: { type: 'string' },
  timeout: { type: 'string', default: '10000' },
} as const;

export async function run(argv: string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(formatHelp(overview));
    throw new HelpShown();
  }
  const { values, positionals } = parseCommandArgs(argv, options, helps[argv[0] ?? ''] ?? overview);
  const [verb, name, ...extra] = positionals;
  if (verb !== 'list' && verb !== 'validate') {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, verb === undefined ? 'workflows needs a subcommand' : `unknown workflows command "${verb}"`, {
      suggestion: (verb && didYouMean(verb, Object.keys(helps))) ?? 'use one of: workflows list, workflows validate [name]',
    });
  }
  const unexpected = verb === 'list' ? name : extra[0];
  if (unexpected !== undefined) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `workflows ${verb} takes ${verb === 'list' ? 'no name' : 'at most one name'}, but got "${unexpected}"`, {
      suggestion: `see \`chorus-visual workflows ${verb} --help\``,
    });
  }
  if (verb === 'list' && values.characters !== undefined) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, '--characters is an option of workflows validate, not of workflows list', {
      suggestion: `run \`chorus-visual workflows validate --characters ${values.characters}\``,
    });
  }
  const timeoutMs = Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `--timeout must be a whole number of milliseconds above 0, not "${values.timeout}"`, {
      suggestion: 'leave it out for 10000',
    });
  }
  if (values.backend !== undefined) assertBackendUrl(values.backend);
  // --dir enters as an override of workflows_dir, like CHORUS_VISUAL_WORKFLOWS_DIR, so the config is read the same way as for every command.
  // Only reads workflows: a job database left behind by a moved relative path is serve's and generate's to refuse.
  const { config } = await readCliConfig(values.config, { WORKFLOWS_DIR: values.dir }, { WORKFLOWS_DIR: '--dir' });

  let objectInfo: ObjectInfo | undefined;
  if (values.backend) {
    try {
      objectInfo = await fetchObjectInfo(values.backend, timeoutMs);
    } catch (error) {
      const e = error as ChorusError;
      err.write(
        `error ${e.code ?? 'COMFY_UNAVAILABLE'}: ${e.message}\nsuggestion: is ComfyUI running at ${values.backend}? Leave out --backend for structural checks only.\n`,
      );
      return 1;
    }
  }
  // The limits the service loads the folder with (job-runtime), so a file it would refuse is reported here too.
  const libraryOptions: WorkflowLibraryOptions = { maxBytes: config.limits.max_workflow_bytes, maxNodes: config.limits.max_workflow_nodes };
  if (objectInfo) libraryOptions.objectInfo = objectInfo;
  const library = await loadLibrary(config.workflows_dir, libraryOptions, () => folderSource(values.config, values.dir));
  if (verb === 'list') return list(library, out);

  let targets: WorkflowDefinition[];
  if (name) {
    try {
      targets = [library.get(name)];
    } catch (error) {
      const e = error as ChorusError;
      const problem = library.problems().find((p) => workflowNameOf(p.file) === name);
      if (problem) {
        out.write(`✗ ${problem.file}\n`);
        if (problem.issues) for (const issue of problem.issues) out.write(formatIssue('error', issue));
        else out.write(`    ${problem.reason}\n`);
        out.write('validation failed\n');
        return 1;
      }
      err.write(
        `error ${e.code}: ${e.message}\n${e.suggestion ? `suggestion: ${e.suggestion}\n` : ''}available: ${((e.details as { available?: string[] })?.available ?? []).join(', ')}\n`,
      );
      return 1;
    }
  } else {
    targets = library.list();
  }

  let failed = false;
  if (!name) {
    for (const problem of library.problems()) {
      failed = true;
      out.write(`✗ ${problem.file}\n`);
      if (problem.issues) for (const issue of problem.issues) out.write(formatIssue('error', issue));
      else out.write(`    ${problem.reason}\n`);
    }
  }
  const characterLoras = new Map<string, LoraSpec[]>();
  if (values.characters) {
    const registry = await CharacterRegistry.load(values.characters, library);
    for (const problem of registry.problems()) {
      failed = true;
      out.write(`✗ ${problem.file}\n    ${problem.reason}\n`);
    }
    for (const character of registry.list()) {
      const workflow = character.visual_identity.default_workflow;
      characterLoras.set(workflow, [...(characterLoras.get(workflow) ?? []), ...character.visual_identity.loras]);
    }
  }
  for (const def of targets) {
    const structure = validateStructure(def);
    const server = objectInfo
      ? validateAgainstObjectInfo(def.graph, objectInfo, { placeholders: def.placeholders, characterLoras: characterLoras.get(def.name) ?? [] })
      : null;
    const errors = [...structure.errors, ...(server?.errors ?? [])];
    const warnings = [...structure.warnings, ...(server?.warnings ?? [])];
    failed ||= errors.length > 0;
    const mark = errors.length ? '✗' : '✓';
    out.write(
      `${mark} ${def.name} (${def.type}${def.convertedFromUi ? ', converted from UI format' : ''})${objectInfo ? ` against ${values.backend}` : ', structure only'}\n`,
    );
    out.write(`    placeholders: ${def.placeholders.map((p) => `${p.token ?? `metadata:${p.key}`} → node ${p.nodeId}.${p.input}`).join(', ') || 'none'}\n`);
    for (const issue of errors) out.write(formatIssue('error', issue));
    for (const issue of warnings) out.write(formatIssue('warning', issue));
  }
  out.write(failed ? 'validation failed\n' : 'all workflows valid\n');
  return failed ? 1 : 0;
}

/** A bad --backend is a bad option value, said as such (INVALID_COMMAND), not a failed connection. */
function assertBackendUrl(value: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `--backend must be a ComfyUI server's http:// or https:// URL, not "${value}"`, {
      suggestion: 'e.g. --backend http://127.0.0.1:8188, or leave it out for structural checks only',
    });
  }
}

function formatIssue(level: 'error' | 'warning', issue: ValidationIssue): string {
  const where =
    issue.nodeId === null
      ? 'workflow'
      : `node ${issue.nodeId}${issue.classType ? ` (${issue.classType})` : ''}${issue.input ? `, input "${issue.input}"` : ''}`;
  const suggestion = issue.suggestion ? `\n      suggestion: ${issue.suggestion}` : '';
  return `    ${level} [${issue.rule}] ${where}: ${issue.message}${suggestion}\n`;
}

function list(library: WorkflowLibrary, out: Out): number {
  for (const def of library.list()) {
    const f = def.facts;
    const loras = f.loras.map((l) => `${l.name}${l.strength === null ? '' : `@${l.strength}`}`).join(', ');
    out.write(`${def.name.padEnd(24)} ${def.type.padEnd(6)} ${f.checkpoints.join(' + ') || '(no model)'}${loras ? `  loras: ${loras}` : ''}\n`);
  }
  for (const problem of library.problems()) out.write(`! ${problem.file}: ${problem.reason}\n`);
  return 0;
}

/** Where the workflows folder came from, for an error that names what to change. */
interface FolderSource {
  /** `--dir`, `CHORUS_VISUAL_WORKFLOWS_DIR`, `workflows_dir in cfg.yaml`, or the default's description. */
  origin: string;
  fromCommandLine: boolean;
  suggestion: string;
}

async function folderSource(configPath: string | undefined, dir: string | undefined): Promise<FolderSource> {
  const orDir = 'or give --dir DIR';
  if (dir !== undefined)
    return {
      origin: 'given by --dir',
      fromCommandLine: true,
      suggestion: "give --dir an existing folder of workflow files, or leave it out to use the config's workflows_dir",
    };
  if (process.env['CHORUS_VISUAL_WORKFLOWS_DIR'] !== undefined)
    return {
      origin: 'set by CHORUS_VISUAL_WORKFLOWS_DIR',
      fromCommandLine: false,
      suggestion: `set CHORUS_VISUAL_WORKFLOWS_DIR to the folder of workflow files, ${orDir}`,
    };
  const file = await configFileInUse(configPath);
  if (file !== undefined && (await fileSetsWorkflowsDir(file)))
    return { origin: `workflows_dir in ${file}`, fromCommandLine: false, suggestion: `set workflows_dir in ${file} to the folder of workflow files, ${orDir}` };
  return {
    origin: `the default of workflows_dir; ${file === undefined ? `no config file at ${configFilePath(configPath)}` : `${file} does not set it`}`,
    fromCommandLine: false,
    suggestion: `run this from the folder that holds workflows/, set workflows_dir in the config file (--config FILE), ${orDir}`,
  };
}

async function fileSetsWorkflowsDir(file: string): Promise<boolean> {
  try {
    const raw: unknown = parseYaml(await readFile(file, 'utf8'));
    return typeof raw === 'object' && raw !== null && 'workflows_dir' in raw;
  } catch {
    return false;
  }
}

/** The library, or an error that says which setting named a folder that cannot be read. */
async function loadLibrary(dir: string, options: WorkflowLibraryOptions, sourceOf: () => Promise<FolderSource>): Promise<WorkflowLibrary> {
  try {
    return await WorkflowLibrary.load(dir, options);
  } catch (error) {
    const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === undefined) throw error;
    const source = await sourceOf();
    const problem = cause.code === 'ENOENT' ? 'does not exist' : `cannot be read (${cause.code})`;
    throw new ChorusError(
      source.fromCommandLine ? ErrorCode.INVALID_COMMAND : ErrorCode.CONFIG_INVALID,
      `the workflows folder ${resolve(dir)} ${problem} (${source.origin})`,
      {
        suggestion: source.suggestion,
        cause: error,
      },
    );
  }
}
