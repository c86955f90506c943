/**
 * What `chorus-visual doctor` checks, one function per dependency. Each returns findings:
 * `ok`, `warn` (works, but worth knowing) or `fail` (something needed is missing), with
 * the fix for anything not ok. Nothing here changes anything.
 */
import { access, constants, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { connect } from 'nats';
import { CharacterRegistry } from '../characters/index.js';
import { readSystemStats, reportedOutputFolder } from '../comfy/reported-output-folder.js';
import { redactUrl, type BackendConfig, type ResolvedConfig } from '../config/index.js';
import { createJobStore, describeDatabase } from '../db/index.js';
import type { ChorusError } from '../errors/index.js';
import { natsConnectionOptions } from '../events/index.js';
import { absentDatabaseFile } from './absent-database.js';
import { WorkflowLibrary, workflowNameOf, type WorkflowLimitExceeded, type WorkflowProblem } from '../workflows/index.js';

export interface Finding {
  level: 'ok' | 'warn' | 'fail';
  subject: string;
  message: string;
  fix?: string;
}

/**
 * `dir` when it exists, else the nearest folder above it that does: either way one this
 * process may write into (so `dir` can be made there). Throws when it is not a folder or not writable.
 */
async function nearestWritableFolder(dir: string): Promise<string> {
  let folder = path.resolve(dir);
  while (!(await exists(folder)) && path.dirname(folder) !== folder) folder = path.dirname(folder);
  if (!(await stat(folder)).isDirectory()) throw new Error(`${folder} is not a folder`);
  await access(folder, constants.W_OK);
  return folder;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function getJson(url: URL, timeoutMs: number, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url.pathname}`);
  return response.json();
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => path.resolve(a)), realpath(b).catch(() => path.resolve(b))]);
  return ra === rb;
}

export async function checkBackend(config: ResolvedConfig, backend: BackendConfig): Promise<Finding[]> {
  const subject = `comfyui ${backend.name}`;
  const timeout = Math.min(backend.request_timeout_ms, 5_000);
  let stats: { system?: { comfyui_version?: string } };
  try {
    stats = (await getJson(new URL('/system_stats', backend.url), timeout)) as typeof stats;
  } catch (error) {
    return [
      {
        level: 'fail',
        subject,
        message: `${redactUrl(backend.url)} does not answer: ${errorText(error)}`,
        fix: `start ComfyUI there (or \`chorus-visual simulate --port ${new URL(backend.url).port || 8188}\` to try without a GPU), or set comfyui.url / CHORUS_VISUAL_COMFYUI_URL`,
      },
    ];
  }
  const findings: Finding[] = [];
  const models = await Promise.all(
    ['checkpoints', 'loras'].map(async (folder) => {
      const names = await getJson(new URL(`/models/${folder}`, backend.url), timeout).catch(() => undefined);
      return Array.isArray(names) ? `${names.length} ${folder}` : `${folder} unknown`;
    }),
  );
  findings.push({
    level: 'ok',
    subject,
    message: `${redactUrl(backend.url)}: ComfyUI ${stats.system?.comfyui_version ?? '(version not reported)'}; models: ${models.join(', ')}`,
  });

  const configured = path.resolve(backend.output_directory ?? config.comfyui.file_management.output_directory);
  const reported = reportedOutputFolder(await readSystemStats(backend.url, timeout));
  const mode = config.collectMode;
  const local = config.localCollectMode;
  const here = await isDirectory(configured);
  const reportedHere = reported !== undefined && (await isDirectory(reported));
  if (here && (reported === undefined || (await sameFolder(configured, reported)))) {
    findings.push({
      level: 'ok',
      subject,
      message: `output folder ${configured} is on this machine: ${mode === 'auto' ? `auto mode will ${local} files found there` : `mode ${mode}`}`,
    });
  } else if (reportedHere) {
    findings.push({
      level: mode === 'move' || mode === 'copy' ? 'fail' : 'warn',
      subject,
      message: `ComfyUI writes to ${reported} (on this machine), but the configured output folder is ${configured}: ${mode === 'auto' ? 'auto mode will download every file through /view' : `mode ${mode}`}`,
      fix: `set comfyui.file_management.output_directory (or this backend's output_directory) to ${reported}`,
    });
  } else if (mode === 'move' || mode === 'copy') {
    findings.push({
      level: 'fail',
      subject,
      message: `mode ${mode} needs ComfyUI's output folder here, but ${configured} does not exist`,
      fix: "set output_directory to ComfyUI's output folder, or use file_management.mode auto (the default) or download",
    });
  } else {
    findings.push({
      level: 'ok',
      subject,
      message: `output folder ${configured} is not on this machine: ${mode === 'auto' ? 'auto mode will download files through /view' : `mode ${mode}`}`,
    });
  }
  return findings;
}

export async function checkNats(config: ResolvedConfig): Promise<Finding[]> {
  if (!config.nats.enabled)
    return [{ level: 'warn', subject: 'nats', message: 'disabled (nats.enabled: false): no NATS commands or events; the HTTP API still works' }];
  const servers = config.nats.servers.join(', ');
  try {
    const nc = await connect({ ...(await natsConnectionOptions(config.nats, { waitOnFirstConnect: false })), maxReconnectAttempts: 0, timeout: 3_000 });
    try {
      const jetstream = await (await nc.jetstreamManager()).getAccountInfo().then(
        () => true,
        () => false,
      );
      return [
        jetstream
          ? { level: 'ok', subject: 'nats', message: `${servers}: connected, JetStream available (events kept in stream ${config.nats.stream.name})` }
          : {
              level: 'warn',
              subject: 'nats',
              message: `${servers}: connected, no JetStream: events are published plainly (a subscriber that is down misses them)`,
              fix: 'run nats-server with -js to keep events for late subscribers',
            },
      ];
    } finally {
      await nc.close();
    }
  } catch (error) {
    return [
      {
        level: 'fail',
        subject: 'nats',
        message: `cannot connect to ${servers}: ${errorText(error)}`,
        fix: 'start nats-server (nats-server -js), set nats.servers / CHORUS_VISUAL_NATS_SERVERS, or run without it (nats.enabled: false, serve --no-nats)',
      },
    ];
  }
}

/**
 * `leftBehind`: the config file's relative database path now names no database while the
 * one it named before (against the working folder) holds the jobs (load-cli-config.ts):
 * serve and generate refuse to start, so it is a fail.
 */
export async function checkDatabase(config: ResolvedConfig, leftBehind?: ChorusError): Promise<Finding[]> {
  const where = describeDatabase(config.database.url);
  if (leftBehind !== undefined) {
    return [{ level: 'fail', subject: 'database', message: leftBehind.message, ...(leftBehind.suggestion ? { fix: leftBehind.suggestion } : {}) }];
  }
  try {
    // Not made here: a check in the wrong folder would leave a database behind.
    const absent = absentDatabaseFile(config.database.url);
    if (absent !== undefined) {
      const parent = await nearestWritableFolder(path.dirname(absent));
      return [{ level: 'ok', subject: 'database', message: `${where}: none yet, the first serve or generate creates it (${parent} is writable)` }];
    }
    const store = await createJobStore(config.database.url);
    try {
      return [{ level: 'ok', subject: 'database', message: `${where}: migrated, ${await store.countJobs()} jobs` }];
    } finally {
      await store.close();
    }
  } catch (error) {
    return [
      {
        level: 'fail',
        subject: 'database',
        message: `${where}: ${errorText(error)}`,
        fix: 'check database.url (CHORUS_VISUAL_DATABASE_URL); for SQLite, that its folder is writable',
      },
    ];
  }
}

export async function checkDataDir(config: ResolvedConfig): Promise<Finding[]> {
  const dir = path.resolve(config.data_dir);
  try {
    const writable = await nearestWritableFolder(dir);
    const state = writable === dir ? 'is writable' : `does not exist yet; it can be made (${writable} is writable)`;
    return [{ level: 'ok', subject: 'data_dir', message: `${dir} ${state} (conversations/… go there)` }];
  } catch (error) {
    return [
      {
        level: 'fail',
        subject: 'data_dir',
        message: `${dir} cannot be written: ${errorText(error)}`,
        fix: 'set data_dir (CHORUS_VISUAL_DATA_DIR) to a writable folder',
      },
    ];
  }
}

export async function checkLlm(config: ResolvedConfig): Promise<Finding[]> {
  const base = config.llm.base_url;
  if (!base)
    return [
      { level: 'ok', subject: 'llm', message: 'not configured: visual prompts come from the template (set llm.base_url for an OpenAI-compatible endpoint)' },
    ];
  try {
    const headers: Record<string, string> = config.llm.api_key ? { authorization: `Bearer ${config.llm.api_key}` } : {};
    const body = (await getJson(new URL(`${base.replace(/\/$/, '')}/models`), 5_000, headers)) as { data?: Array<{ id?: string }> };
    const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
    if (ids.length > 0 && !ids.includes(config.llm.model)) {
      return [
        {
          level: 'warn',
          subject: 'llm',
          message: `${base} answers, but has no model "${config.llm.model}" (it has: ${ids.slice(0, 8).join(', ')})`,
          fix: 'set llm.model to one of those',
        },
      ];
    }
    return [{ level: 'ok', subject: 'llm', message: `${base} answers; model ${config.llm.model}` }];
  } catch (error) {
    return [
      {
        level: 'warn',
        subject: 'llm',
        message: `${base} does not answer (${errorText(error)}): jobs fall back to template prompts`,
        fix: 'start the LLM server, or fix llm.base_url',
      },
    ];
  }
}

/**
 * A fail, not a warning: such a character is loaded, but every request for it that names no
 * workflow fails with WORKFLOW_NOT_FOUND (or WORKFLOW_INVALID) until this is fixed.
 */
function missingDefaultWorkflow(file: string, workflow: string, library: WorkflowLibrary): Finding {
  const consequence = 'the character cannot generate unless a request names another workflow';
  const broken = library.problems().find((p) => workflowNameOf(p.file) === workflow);
  if (broken)
    return {
      level: 'fail',
      subject: 'characters',
      message: `${file}: visual_identity.default_workflow "${workflow}" is ${broken.file}, which does not load: ${consequence}`,
      fix: `fix that file (\`chorus-visual workflows validate ${workflow}\` lists every problem), or set visual_identity.default_workflow to another workflow`,
    };
  const names = library.list().map((d) => d.name);
  const suggestion = library.suggestionFor(workflow);
  return {
    level: 'fail',
    subject: 'characters',
    message: `${file}: visual_identity.default_workflow "${workflow}" is not in ${library.dir}: ${consequence}`,
    fix: `${suggestion ? `${suggestion} ` : ''}set visual_identity.default_workflow to one of ${names.join(', ') || '(none)'}, or add ${workflow}.json to ${library.dir}`,
  };
}

/**
 * A fail, not a warning: `serve` refuses a file over the config's limits, so whatever uses
 * it fails until the limit or the file changes.
 */
function overLimit(problem: WorkflowProblem, { key, actual }: WorkflowLimitExceeded, configFile: string | undefined): Finding {
  const variable = `CHORUS_VISUAL_${key.replace('.', '_').toUpperCase()}`;
  const smaller = key === 'limits.max_workflow_nodes' ? 'remove nodes from the workflow' : 'make the workflow file smaller';
  return {
    level: 'fail',
    subject: 'workflows',
    message: `${problem.file}: ${problem.reason}: the service does not load it`,
    fix: `raise ${key} in ${configFile ?? 'the config file (--config FILE)'} (or ${variable}) to at least ${actual}, or ${smaller}`,
  };
}

/** `configFile`: the file the config came from, if any, for a fix that names where to change a limit. */
export async function checkDefinitions(config: ResolvedConfig, configFile: string | undefined): Promise<Finding[]> {
  const findings: Finding[] = [];
  let library: WorkflowLibrary;
  try {
    // The limits `serve` loads the folder with, so a file it would refuse is reported here.
    library = await WorkflowLibrary.load(config.workflows_dir, {
      maxBytes: config.limits.max_workflow_bytes,
      maxNodes: config.limits.max_workflow_nodes,
    });
  } catch (error) {
    return [{ level: 'fail', subject: 'workflows', message: errorText(error), fix: 'set workflows_dir to the folder of workflow files' }];
  }
  findings.push(
    library.list().length > 0
      ? {
          level: 'ok',
          subject: 'workflows',
          message: `${library.list().length} in ${library.dir}: ${library
            .list()
            .map((d) => d.name)
            .join(', ')}`,
        }
      : { level: 'fail', subject: 'workflows', message: `none in ${library.dir}`, fix: 'add API-format workflow files (docs/workflows.md)' },
  );
  for (const problem of library.problems())
    findings.push(
      problem.limit
        ? overLimit(problem, problem.limit, configFile)
        : { level: 'warn', subject: 'workflows', message: `${problem.file}: ${problem.reason}`, fix: '`chorus-visual workflows validate` lists every problem' },
    );
  try {
    const registry = await CharacterRegistry.load(config.characters_dir, library);
    findings.push({
      level: 'ok',
      subject: 'characters',
      message: `${registry.list().length} in ${registry.dir}: ${
        registry
          .list()
          .map((c) => c.id)
          .join(', ') || 'none'
      }`,
    });
    for (const problem of registry.problems())
      findings.push(
        problem.missingWorkflow === undefined
          ? { level: 'warn', subject: 'characters', message: `${problem.file}: ${problem.reason}` }
          : missingDefaultWorkflow(problem.file, problem.missingWorkflow, library),
      );
  } catch (error) {
    findings.push({ level: 'warn', subject: 'characters', message: errorText(error), fix: 'set characters_dir to the folder of character files' });
  }
  library.close();
  return findings;
}
