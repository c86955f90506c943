/**
 * `chorus-visual workflows list` and `chorus-visual workflows validate [name] [--backend URL] [--dir DIR]`.
 * Validation is structural, plus `/object_info` checks when a backend is given; the exit
 * code is 1 when any workflow has errors, so it can gate a deploy.
 */
import { parseArgs } from 'node:util';
import { CharacterRegistry } from '../characters/index.js';
import type { ChorusError } from '../errors/index.js';
import type { LoraSpec } from '../workflows/character-lora-chain.js';
import { fetchObjectInfo } from '../workflows/object-info-fetcher.js';
import type { ObjectInfo } from '../workflows/object-info-spec.js';
import { validateAgainstObjectInfo } from '../workflows/object-info-validator.js';
import { validateStructure } from '../workflows/structure-validator.js';
import type { ValidationIssue, WorkflowDefinition } from '../workflows/workflow-definition.js';
import { WorkflowLibrary, workflowNameOf } from '../workflows/workflow-library.js';

const usage =
  'usage: chorus-visual workflows list [--dir DIR]\n' +
  '       chorus-visual workflows validate [name] [--backend URL] [--dir DIR] [--characters DIR] [--timeout MS]\n\n' +
  'list shows each workflow with its type, models and LoRAs, and every file that failed to load.\n' +
  'validate checks structure (links, output node, placeholders, misspelt tokens, cycles), and with\n' +
  "--backend also that ComfyUI's /object_info (node classes, inputs, models, LoRAs); exit 1 on any error.\n\n" +
  'options:\n' +
  '  --dir DIR         the workflows folder (default workflows)\n' +
  '  --backend URL     a ComfyUI to check against, e.g. http://127.0.0.1:8188\n' +
  '  --characters DIR  also check the characters: their default workflows exist, their LoRAs are on the backend\n' +
  '  --timeout MS      how long to wait for the backend (default 10000)\n' +
  '  -h, --help        show this help\n';

type Out = { write(text: string): unknown };

const options = {
  dir: { type: 'string', default: 'workflows' },
  backend: { type: 'string' },
  characters: { type: 'string' },
  timeout: { type: 'string', default: '10000' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof options }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (error) {
    err.write(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const [verb, name] = parsed.positionals;
  if (parsed.values.help || (verb !== 'list' && verb !== 'validate')) {
    (parsed.values.help ? out : err).write(usage);
    return parsed.values.help ? 0 : 2;
  }

  let objectInfo: ObjectInfo | undefined;
  if (parsed.values.backend) {
    try {
      objectInfo = await fetchObjectInfo(parsed.values.backend, Number(parsed.values.timeout));
    } catch (error) {
      const e = error as ChorusError;
      err.write(
        `error ${e.code ?? 'COMFY_UNAVAILABLE'}: ${e.message}\nsuggestion: is ComfyUI running at ${parsed.values.backend}? Leave out --backend for structural checks only.\n`,
      );
      return 1;
    }
  }
  const library = await WorkflowLibrary.load(parsed.values.dir, objectInfo ? { objectInfo } : {});
  if (verb === 'list') return list(library, out);

  let targets: WorkflowDefinition[];
  if (name) {
    try {
      targets = [library.get(name)];
    } catch (error) {
      const e = error as ChorusError;
      const problem = library.problems().find((p) => workflowNameOf(p.file) === workflowNameOf(name));
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
  if (parsed.values.characters) {
    const registry = await CharacterRegistry.load(parsed.values.characters, library);
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
      `${mark} ${def.name} (${def.type}${def.convertedFromUi ? ', converted from UI format' : ''})${objectInfo ? ` against ${parsed.values.backend}` : ', structure only'}\n`,
    );
    out.write(`    placeholders: ${def.placeholders.map((p) => `${p.token ?? `metadata:${p.key}`} → node ${p.nodeId}.${p.input}`).join(', ') || 'none'}\n`);
    for (const issue of errors) out.write(formatIssue('error', issue));
    for (const issue of warnings) out.write(formatIssue('warning', issue));
  }
  out.write(failed ? 'validation failed\n' : 'all workflows valid\n');
  return failed ? 1 : 0;
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
