import type { CollectorFileSystem } from './collector-file-system.js';

/**
 * Real paths of the configured roots (the data folder, ComfyUI's folders), resolved once per
 * process instead of once per job: they come from the config, and what could move under them
 * (a conversation folder, ComfyUI's file) is still resolved every time. A failed lookup is
 * not remembered, so a root created later is found.
 */
export class RootRealpaths {
  private readonly known = new Map<string, Promise<string>>();

  constructor(private readonly fs: CollectorFileSystem) {}

  /** `create`: make the folder (and its parents) first when it is missing. */
  of(root: string, create = false): Promise<string> {
    let real = this.known.get(root);
    if (real === undefined) {
      real = this.resolve(root, create);
      this.known.set(root, real);
      real.catch(() => this.known.delete(root));
    }
    return real;
  }

  private async resolve(root: string, create: boolean): Promise<string> {
    if (create) await this.fs.mkdirp(root);
    return this.fs.realpath(root);
  }
}
