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

  /** Folders files were renamed out of (ComfyUI's, on a move). */
  private readonly vacatedFolders = new Set<string>();

  add(directory: string): void {
    this.directories.add(directory);
  }

  /** A folder a file was renamed out of (see VacatedFolderSyncs): fsynced after the flush, not by it. */
  addVacated(directory: string): void {
    this.vacatedFolders.add(directory);
  }

  /** The folders files left, for VacatedFolderSyncs once flush() has made their new names durable. */
  get vacated(): ReadonlySet<string> {
    return this.vacatedFolders;
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

/**
 * fsyncs of the folders files were renamed out of (ComfyUI's output folder, on a move), off
 * the job's path. Such an fsync only keeps a moved file from showing up again in ComfyUI's
 * folder after a power cut — clutter, never loss: the folder it went to is fsynced before the
 * job completes (collect() waits for that, see PendingDirectorySyncs). Nor may it come first
 * for the job's own files: until their new names are durable, the old ones are all that finds
 * them (on a file system that does not journal a rename as one change). So it is scheduled only
 * after the job's flush, and runs in the background, at most once
 * per folder per `delayMs` (a second: it guards against clutter only, so it can wait), however
 * many files left it meanwhile — one fsync fewer on every job's path, and at most one a second
 * per ComfyUI folder however busy its backend is. (Across jobs the order is not kept: another
 * job's fsync of the folder may come while this job's renames out of it are not yet durable at
 * their destination — as when both folder fsyncs ran side by side, before; on a journalling
 * file system a rename is one change either way.) After settle(), a collection that was still
 * finishing at stop has its folder fsynced at once rather than on a timer.
 */
export class VacatedFolderSyncs {
  private readonly scheduled = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly running = new Set<Promise<void>>();
  /** settle() was called (the service is stopping): nothing waits for a timer any more. */
  private settled = false;

  constructor(
    private readonly fs: Pick<CollectorFileSystem, 'syncDirectory'>,
    private readonly delayMs = 1_000,
  ) {}

  /** Each folder fsynced once, `delayMs` from now (or with the one already scheduled, which has not begun). */
  schedule(directories: Iterable<string>): void {
    for (const directory of directories) {
      if (this.settled) {
        this.run(directory);
        continue;
      }
      if (this.scheduled.has(directory)) continue;
      const timer = setTimeout(() => this.run(directory), this.delayMs);
      // A pending one must not keep a stopping process alive; settle() runs them on a clean stop.
      timer.unref();
      this.scheduled.set(directory, timer);
    }
  }

  /** Folders waiting for their fsync (tests). */
  get pending(): number {
    return this.scheduled.size + this.running.size;
  }

  /** Runs what is scheduled now and waits for every fsync under way; later ones run at once (a clean stop; tests). */
  async settle(): Promise<void> {
    this.settled = true;
    for (const [directory, timer] of this.scheduled) {
      clearTimeout(timer);
      this.run(directory);
    }
    await Promise.all(this.running);
  }

  private run(directory: string): void {
    this.scheduled.delete(directory);
    // A failure here has no job left to fail: the files' new names were durable before it was
    // scheduled, and all it could have prevented is clutter in ComfyUI's folder.
    const sync = this.fs.syncDirectory(directory).catch(() => undefined);
    this.running.add(sync);
    void sync.then(() => this.running.delete(sync));
  }
}
