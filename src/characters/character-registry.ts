/**
 * The characters of one folder. A file that fails to parse is reported by name and reason;
 * a character whose default workflow is missing is loaded (the workflow may be added later,
 * the library reloads) but reported, so `serve` can say so at start.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ChorusError } from '../errors/index.js';
import type { WorkflowLibrary } from '../workflows/index.js';
import { characterSchema, type Character } from './character-schema.js';

export interface CharacterProblem {
  file: string;
  reason: string;
}

export class CharacterRegistry {
  private constructor(
    private readonly characters: Map<string, Character>,
    private readonly failures: CharacterProblem[],
  ) {}

  static async load(dir: string, workflows?: Pick<WorkflowLibrary, 'has'>): Promise<CharacterRegistry> {
    const root = resolve(dir);
    let files: string[];
    try {
      files = (await readdir(root)).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch (error) {
      throw new ChorusError('CONFIG_INVALID', `Cannot read the characters folder ${root}: ${(error as Error).message}`, { cause: error });
    }
    const characters = new Map<string, Character>();
    const problems: CharacterProblem[] = [];
    for (const file of files) {
      const path = join(root, file);
      const result = await readCharacter(path);
      if ('reason' in result) {
        problems.push({ file: path, reason: result.reason });
        continue;
      }
      const character = result.character;
      const other = characters.get(character.id);
      if (other) {
        problems.push({ file: path, reason: `character id "${character.id}" is already used by another file; this one is ignored` });
        continue;
      }
      characters.set(character.id, character);
      const workflow = character.visual_identity.default_workflow;
      if (workflows && !workflows.has(workflow)) {
        problems.push({ file: path, reason: `visual_identity.default_workflow "${workflow}" is not in the workflow library` });
      }
    }
    return new CharacterRegistry(characters, problems);
  }

  get(id: string): Character {
    const character = this.characters.get(id);
    if (!character) {
      throw new ChorusError('CHARACTER_NOT_FOUND', `Character "${id}" does not exist.`, { details: { character: id, available: [...this.characters.keys()].sort() } });
    }
    return character;
  }

  list(): Character[] {
    return [...this.characters.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  problems(): CharacterProblem[] {
    return [...this.failures];
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

