/**
 * SaveImage-style names: `prefix_00001_.png` in the prefix's subfolder, the counter continuing
 * from the files already on disk (folder_paths.get_save_image_path). The highest counter per
 * folder+prefix is scanned once and then kept in memory, so thousands of saves stay cheap.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, posix, resolve, sep } from 'node:path';

export interface SaveTarget {
  folder: string;
  subfolder: string;
  baseName: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class OutputFileNamer {
  private readonly counters = new Map<string, number>();

  /** Splits `a/b_` into subfolder `a` and name `b_`, refusing paths that leave the root. */
  target(root: string, filenamePrefix: string): SaveTarget {
    const normalized = posix.normalize(filenamePrefix.replace(/\\/g, '/'));
    const subfolder = posix.dirname(normalized) === '.' ? '' : posix.dirname(normalized);
    const baseName = posix.basename(normalized);
    const folder = resolve(root, subfolder);
    const rootResolved = resolve(root);
    if (folder !== rootResolved && !folder.startsWith(rootResolved + sep)) {
      throw new Error(`Saving image outside the output folder is not allowed.\n full_output_folder: ${folder}\n         output_dir: ${rootResolved}`);
    }
    return { folder, subfolder, baseName };
  }

  /** Reserves the next counter value for this folder+prefix and returns the file name. */
  nextName(target: SaveTarget, extension: string): string {
    const key = `${target.folder}\u0000${target.baseName}`;
    let counter = this.counters.get(key);
    if (counter === undefined) counter = this.scan(target);
    counter += 1;
    this.counters.set(key, counter);
    return `${target.baseName}_${String(counter).padStart(5, '0')}_.${extension}`;
  }

  private scan(target: SaveTarget): number {
    mkdirSync(target.folder, { recursive: true });
    const pattern = new RegExp(`^${escapeRegExp(target.baseName)}_(\\d+)_`);
    let highest = 0;
    for (const name of readdirSync(target.folder)) {
      const match = pattern.exec(name);
      if (match) highest = Math.max(highest, Number(match[1]));
    }
    return highest;
  }

  /** After a restart the real server rescans; so do we. */
  reset(): void {
    this.counters.clear();
  }

  static join(folder: string, name: string): string {
    return join(folder, name);
  }
}
