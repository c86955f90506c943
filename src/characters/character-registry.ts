/**
 * The characters of one folder, loaded at start and, once `watch()` is called, kept in step
 * with it. A file that fails to parse is reported by name and reason and never replaces the
 * last good version read from it; a character whose default workflow is missing is loaded
 * (the workflow may be added later) but reported, so `serve` can say so.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { parse as parseYaml } from 'yaml';
import { ChorusError } from '../errors/index.js';
import { suggestNames, type WorkflowLibrary } from '../workflows/index.js';
import { characterSchema, type Character } from './character-schema.js';

export interface CharacterProblem {
  file: string;
  reason: string;
  /** Set when the problem is this: the character's default workflow is not in the library. */
  missingWorkflow?: string;
}

export type CharacterChange =
  | { kind: 'loaded' | 'removed'; file: string; id: string | null }
  /** `kept`: the last good version read from this file still serves. */
  | { kind: 'failed'; file: string; reason: string; kept: boolean };

const isCharacterFile = (file: string) => /\.ya?ml$/.test(file);

export class CharacterRegistry {
  /** The last good character read from each file. */
  private readonly byFile = new Map<string, Character>();
  /** Files whose current content does not parse. */
  private readonly failures = new Map<string, string>();
  private watcher: FSWatcher | null = null;

  private constructor(
    readonly dir: string,
    private readonly workflows: Pick<WorkflowLibrary, 'has'> | undefined,
  ) {}

  static async load(dir: string, workflows?: Pick<WorkflowLibrary, 'has'>): Promise<CharacterRegistry> {
    const registry = new CharacterRegistry(resolve(dir), workflows);
    let files: string[];
    try {
      files = (await readdir(registry.dir)).filter(isCharacterFile).sort();
    } catch (error) {
      throw new ChorusError('CONFIG_INVALID', `Cannot read the characters folder ${registry.dir}: ${(error as Error).message}`, { cause: error });
    }
    for (const file of files) await registry.loadFile(join(registry.dir, file));
    return registry;
  }

  get(id: string): Character {
    const character = this.current().characters.get(id);
    if (!character) {
      const available = [...this.current().characters.keys()].sort();
      const close = suggestNames(id, available, 1);
      throw new ChorusError('CHARACTER_NOT_FOUND', `Character "${id}" does not exist.`, {
        details: { character: id, available },
        ...(close.length ? { suggestion: `did you mean "${close[0]}"?` } : {}),
      });
    }
    return character;
  }

  list(): Character[] {
    return [...this.current().characters.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  problems(): CharacterProblem[] {
    return this.current().problems;
  }

  /** Follows the folder; resolves once the watcher is ready. Each change is reported to `onChange`. */
  watch(onChange: (change: CharacterChange) => void = () => undefined): Promise<void> {
    if (this.watcher) return Promise.resolve();
    const watcher = watch(this.dir, { ignoreInitial: true, depth: 0, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    this.watcher = watcher;
    const reload = async (path: string) => {
      if (isCharacterFile(path)) onChange(await this.loadFile(path));
    };
    watcher.on('add', reload).on('change', reload);
    watcher.on('unlink', (path) => {
      if (!isCharacterFile(path)) return;
      const id = this.byFile.get(path)?.id ?? null;
      this.byFile.delete(path);
      this.failures.delete(path);
      onChange({ kind: 'removed', file: path, id });
    });
    return new Promise((ready) => watcher.once('ready', () => ready()));
  }

  close(): void {
    void this.watcher?.close();
    this.watcher = null;
  }

  private async loadFile(path: string): Promise<CharacterChange> {
    const result = await readCharacter(path);
    if ('reason' in result) {
      this.failures.set(path, result.reason);
      return { kind: 'failed', file: path, reason: result.reason, kept: this.byFile.has(path) };
    }
    this.byFile.set(path, result.character);
    this.failures.delete(path);
    return { kind: 'loaded', file: path, id: result.character.id };
  }

  /** Files in name order: the first file to claim an id keeps it; later ones are reported. */
  private current(): { characters: Map<string, Character>; problems: CharacterProblem[] } {
    const characters = new Map<string, Character>();
    const problems: CharacterProblem[] = [];
    const files = [...new Set([...this.byFile.keys(), ...this.failures.keys()])].sort();
    for (const file of files) {
      const failure = this.failures.get(file);
      if (failure !== undefined) problems.push({ file, reason: failure });
      const character = this.byFile.get(file);
      if (!character) continue;
      if (characters.has(character.id)) {
        problems.push({ file, reason: `character id "${character.id}" is already used by another file; this one is ignored` });
        continue;
      }
      characters.set(character.id, character);
      const workflow = character.visual_identity.default_workflow;
      if (this.workflows && !this.workflows.has(workflow)) {
        problems.push({ file, reason: `visual_identity.default_workflow "${workflow}" is not in the workflow library`, missingWorkflow: workflow });
      }
    }
    return { characters, problems };
  }
}

async function readCharacter(path: string): Promise<{ character: Character } | { reason: string }> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, 'utf8'));
  } catch (error) {
    return { reason: `not valid YAML: ${(error as Error).message.split('\n')[0]}` };
  }
  if (raw && typeof raw === 'object' && !('id' in raw)) {
    // Chorus Engine names characters by file; accept that spelling too.
    raw = { ...raw, id: basename(path, extname(path)) };
  }
  const parsed = characterSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');
    return { reason: issues };
  }
  const character = parsed.data;
  const reference = character.visual_identity.reference_image;
  // Relative to the character file, so the folder can move as a whole.
  if (reference) character.visual_identity.reference_image = resolve(dirname(path), reference);
  return { character };
}
