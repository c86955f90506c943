/**
 * The workflows of one folder, loaded at start and reloaded when a file changes. A broken
 * file is kept out and reported by name and reason; it never takes the others down.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { workflowNameProblem, WORKFLOW_NAME_RULE } from '../contracts/workflow-name.js';
import { ChorusError, toChorusError } from '../errors/index.js';
import type { ObjectInfo } from './object-info-spec.js';
import { suggestNames } from './object-info-validator.js';
import { validateStructure } from './structure-validator.js';
import type { ValidationIssue, WorkflowDefinition } from './workflow-definition.js';
import { parseWorkflowJson } from './workflow-file-parser.js';

export interface WorkflowLibraryOptions {
  /** A backend's /object_info, when one is reachable: lets UI-format files be converted. */
  objectInfo?: ObjectInfo;
  /** Larger files are refused before they are read (`limits.max_workflow_bytes`). */
  maxBytes?: number;
  /** Graphs with more nodes are refused (`limits.max_workflow_nodes`). */
  maxNodes?: number;
}

/** A config limit a file is over: the service refuses such a file however right the graph is. */
export interface WorkflowLimitExceeded {
  key: 'limits.max_workflow_bytes' | 'limits.max_workflow_nodes';
  max: number;
  actual: number;
}

export interface WorkflowProblem {
  file: string;
  reason: string;
  /** Structural errors by rule, when the file parsed but cannot run. */
  issues?: ValidationIssue[];
  /** Set when the file was refused for being over one of the config's limits. */
  limit?: WorkflowLimitExceeded;
}

export type WorkflowChange =
  | { kind: 'loaded' | 'removed'; name: string; file: string }
  /** `kept`: an earlier good version of the same name still serves. */
  | { kind: 'failed'; name: string; file: string; reason: string; kept: boolean };

/** A file's workflow name: its name without the final extension, exactly (`a.b.json` is `a.b`). Never applied to a requested name. */
export function workflowNameOf(file: string): string {
  return basename(file, extname(file));
}

export class WorkflowLibrary {
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private readonly failures = new Map<string, WorkflowProblem>();
  private watcher: FSWatcher | null = null;
  private watcherReady: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(change: WorkflowChange) => void>();

  private constructor(
    readonly dir: string,
    private readonly options: WorkflowLibraryOptions,
  ) {}

  static async load(dir: string, options: WorkflowLibraryOptions = {}): Promise<WorkflowLibrary> {
    const library = new WorkflowLibrary(resolve(dir), options);
    let files: string[];
    try {
      files = (await readdir(library.dir)).filter((f) => f.endsWith('.json')).sort();
    } catch (error) {
      throw new ChorusError('CONFIG_INVALID', `Cannot read the workflows folder ${library.dir}: ${(error as Error).message}`, { cause: error });
    }
    for (const file of files) await library.loadFile(join(library.dir, file));
    return library;
  }

  /**
   * The last good version of the workflow called exactly `name` (a file's name without
   * `.json`; `a.json` is not `a`); WORKFLOW_INVALID when its file never loaded,
   * WORKFLOW_NOT_FOUND when there is none.
   */
  get(name: string): WorkflowDefinition {
    const definition = this.definitions.get(name);
    if (definition) return definition;
    const failure = this.failures.get(name);
    const available = [...this.definitions.keys()].sort();
    if (failure) {
      throw new ChorusError('WORKFLOW_INVALID', `Workflow "${name}" failed to load: ${failure.reason}`, {
        details: { workflow: name, file: failure.file, problem: failure.reason, available },
        suggestion: `Fix ${failure.file}; \`chorus-visual workflows validate ${name}\` lists every problem. The service picks the file up when it is saved.`,
      });
    }
    const suggestion = this.suggestionFor(name);
    throw new ChorusError('WORKFLOW_NOT_FOUND', `Workflow "${name}" does not exist.`, {
      details: { workflow: name, available },
      ...(suggestion ? { suggestion } : {}),
    });
  }

  has(name: string): boolean {
    return this.definitions.has(name);
  }

  /** The loaded workflow a mistyped name most likely meant (`x.json` for `x`), as a "did you mean". */
  suggestionFor(name: string): string | undefined {
    const stem = name.endsWith('.json') ? name.slice(0, -'.json'.length) : undefined;
    if (stem !== undefined && this.definitions.has(stem)) return `did you mean "${stem}"? A workflow is named by its file's name without ".json".`;
    const close = suggestNames(name, [...this.definitions.keys()].sort(), 1);
    return close.length ? `did you mean "${close[0]}"?` : undefined;
  }

  list(): WorkflowDefinition[] {
    return [...this.definitions.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  problems(): WorkflowProblem[] {
    return [...this.failures.values()];
  }

  /**
   * Keeps the library in step with the folder; each `onChange` hears every reload. The
   * promise resolves once the watcher is ready (changes before that may be missed).
   */
  watch(onChange?: (change: WorkflowChange) => void): Promise<void> {
    if (onChange) this.listeners.add(onChange);
    if (this.watcher) return this.watcherReady;
    const interesting = (path: string) => path.endsWith('.json');
    const emit = (change: WorkflowChange) => {
      for (const listener of this.listeners) listener(change);
    };
    const watcher = watch(this.dir, { ignoreInitial: true, depth: 0, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    this.watcher = watcher;
    this.watcherReady = new Promise((resolve) => watcher.once('ready', () => resolve()));
    const reload = async (path: string) => {
      if (interesting(path)) emit(await this.loadFile(path));
    };
    watcher.on('add', reload).on('change', reload);
    watcher.on('unlink', (path) => {
      if (!interesting(path)) return;
      const name = workflowNameOf(path);
      this.definitions.delete(name);
      this.failures.delete(name);
      emit({ kind: 'removed', name, file: path });
    });
    return this.watcherReady;
  }

  close(): void {
    void this.watcher?.close();
    this.watcher = null;
    this.listeners.clear();
  }

  private async loadFile(path: string): Promise<WorkflowChange> {
    const name = workflowNameOf(path);
    const badName = workflowNameProblem(name);
    if (badName !== undefined) {
      // Listed as unusable rather than loaded: no request could name it.
      const reason = `"${name}" cannot be a workflow name: ${badName}; rename the file (a workflow name is ${WORKFLOW_NAME_RULE})`;
      this.failures.set(name, { file: path, reason });
      return { kind: 'failed', name, file: path, reason, kept: false };
    }
    try {
      const { size } = await stat(path);
      const maxBytes = this.options.maxBytes ?? 16 * 1024 ** 2;
      if (size > maxBytes) throw overLimit(`the file is ${size} bytes`, { key: 'limits.max_workflow_bytes', max: maxBytes, actual: size });
      const text = await readFile(path, 'utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new ChorusError('WORKFLOW_INVALID', `not valid JSON: ${jsonSyntaxProblem(text, error as Error)}`);
      }
      const definition = parseWorkflowJson(name, path, json, this.options.objectInfo);
      const nodes = Object.keys(definition.graph).length;
      const maxNodes = this.options.maxNodes ?? 10_000;
      if (nodes > maxNodes) throw overLimit(`the graph has ${nodes} nodes`, { key: 'limits.max_workflow_nodes', max: maxNodes, actual: nodes });
      // A graph that cannot run is refused here, so admission can refuse it too.
      const report = validateStructure(definition);
      if (!report.ok) {
        const reason = report.errors.map((issue) => `${issue.nodeId === null ? '' : `node ${issue.nodeId}: `}${issue.message}`).join('; ');
        this.failures.set(name, { file: path, reason, issues: report.errors });
        return { kind: 'failed', name, file: path, reason, kept: this.definitions.has(name) };
      }
      this.definitions.set(name, definition);
      this.failures.delete(name);
      return { kind: 'loaded', name, file: path };
    } catch (error) {
      const chorus = toChorusError(error, 'WORKFLOW_INVALID');
      // A UI-format file's reason must say how to export the API format.
      const isUi = (chorus.details as { format?: string } | undefined)?.format === 'ui';
      const reason = isUi && chorus.suggestion ? `${chorus.message} ${chorus.suggestion}` : chorus.message;
      const limit = (chorus.details as { limit?: WorkflowLimitExceeded } | undefined)?.limit;
      // The last good version keeps serving: a half-saved edit must not break running characters.
      this.failures.set(name, limit ? { file: path, reason, limit } : { file: path, reason });
      return { kind: 'failed', name, file: path, reason, kept: this.definitions.has(name) };
    }
  }
}

function overLimit(what: string, limit: WorkflowLimitExceeded): ChorusError {
  return new ChorusError('WORKFLOW_INVALID', `${what}, more than ${limit.key} (${limit.max})`, { details: { limit } });
}

/**
 * What is wrong with a workflow file's JSON, where: V8's message without the excerpt of the
 * file it quotes (`"root:x:0:0"... is not valid JSON` for a name that points at /etc/passwd,
 * `..."…"... is not valid JSON` for a stretch from the middle of a long file — the reason
 * reaches logs and the NATS and HTTP replies), and a position as line and column.
 * "after JSON" (content after a complete value) is kept: without it the message reads as if
 * the character itself were wrong.
 */
function jsonSyntaxProblem(text: string, error: Error): string {
  const message = error.message.replace(/,? *(\.\.\.)?"[\s\S]*"(\.\.\.)? is not valid JSON$/, '');
  const position = /^(.*?) ((?:in|after) JSON) at position (\d+)/.exec(message);
  if (!position) return message;
  const before = text.slice(0, Number(position[3]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  const where = position[2] === 'after JSON' ? `${position[1]} after JSON` : position[1];
  return `${where} (line ${line}, column ${column})`;
}
