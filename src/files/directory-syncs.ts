import type { CollectorFileSystem } from './collector-file-system.js';

/**
 * What one collection must make durable after its last rename: the folders whose entries it
 * changed (renames in, ComfyUI's file renamed out), each fsynced once — not once per rename —
 * and the data of the derived files it renamed into them (the sidecar, thumbnails: see
 * writeDerivedTempFile). A folder fsync makes every rename before it in that folder durable,
 * so one after the last gives the same guarantee as one after each, and the job is not
 * reported complete before it. All of them run side by side, so the file system can serve
 * them with one journal commit.
 */
export class PendingDirectorySyncs {
  private readonly directories = new Set<string>();
  private readonly files: Array<() => Promise<void>> = [];

  add(directory: string): void {
    this.directories.add(directory);
  }

  /** A renamed file whose bytes are not fsynced yet: `sync` fsyncs them. */
  addFile(sync: () => Promise<void>): void {
    this.files.push(sync);
  }

  async flush(fs: CollectorFileSystem): Promise<void> {
    const directories = [...this.directories];
    const files = this.files.splice(0);
    this.directories.clear();
    await Promise.all([...files.map((sync) => sync()), ...directories.map((directory) => fs.syncDirectory(directory))]);
  }
}
