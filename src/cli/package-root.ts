/**
 * The folder chorus-visual is installed in, where its shipped `workflows/` and
 * `config/characters/` are: the nearest folder above this module whose package.json is
 * named "chorus-visual". Walked up to rather than written as a fixed `../..` because the
 * module runs from two depths: src/cli/ under tsx, dist/ once bundled into a chunk.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChorusError } from '../errors/index.js';

const packageName = 'chorus-visual';

export async function findPackageRoot(start: string = dirname(fileURLToPath(import.meta.url))): Promise<string> {
  for (let dir = start; ; dir = dirname(dir)) {
    if ((await packageNameIn(dir)) === packageName) return dir;
    if (dirname(dir) === dir) {
      throw new ChorusError('INTERNAL', `no package.json named "${packageName}" in ${start} or any folder above it`, {
        suggestion: 'chorus-visual is installed incompletely; install it again',
      });
    }
  }
}

async function packageNameIn(dir: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
    return typeof pkg.name === 'string' ? pkg.name : undefined;
  } catch {
    // No package.json here, or not JSON: not the package root, keep walking up.
    return undefined;
  }
}
