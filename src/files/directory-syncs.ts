import type { CollectorFileSystem } from './collector-file-system.js';

/**
 * The folders whose entries one collection changed (renames in, ComfyUI's file renamed out),
 * fsynced once each when the collection's last rename is done — not once per rename. A
 * folder fsync makes every rename before it in that folder durable, so one after the last
 * gives the same guarantee as one after each, and the job is not reported complete before it.
 * The fsyncs of different folders run side by side (the file system can share one journal
 * commit between them).
 */
export class PendingDirectorySyncs {
  private readonly directories = new Set<string>();

  add(directory: string): void {
    this.directories.add(directory);
  }

  async flush(fs: CollectorFileSystem): Promise<void> {
    const directories = [...this.directories];
    this.directories.clear();
    await Promise.all(directories.map((directory) => fs.syncDirectory(directory)));
  }
}
