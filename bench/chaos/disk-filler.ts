/**
 * A full disk on the service's data folder. Preferred: a small tmpfs mounted over the folder
 * (root only), filled with a ballast file until the kernel says ENOSPC, then emptied again —
 * the service sees a real full file system, not a simulation. When `mount -t tmpfs` is not
 * allowed the campaign fails at once, saying why: a disk-full check that silently does not
 * run would pass. Running without it must be asked for (`--no-disk-full`), and is reported.
 */
import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHUNK = Buffer.alloc(256 * 1024, 0x5a);
const SMALL_CHUNK = Buffer.alloc(4096, 0x5a);

export type DiskFullMethod = 'tmpfs' | 'skipped';

export class DataDiskFiller {
  private filled = false;
  private constructor(
    readonly directory: string,
    readonly method: DiskFullMethod,
    readonly reason: string | undefined,
  ) {}

  /** Mounts a tmpfs of `sizeMb` on `directory` (which must exist and be empty); throws when it cannot. */
  static async mount(directory: string, sizeMb: number): Promise<DataDiskFiller> {
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', directory]);
      return new DataDiskFiller(directory, 'tmpfs', undefined);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new Error(
        `the disk-full check cannot run: mounting a tmpfs on ${directory} failed (${reason}); run as root, or pass --no-disk-full to run the campaign without it`,
      );
    }
  }

  /** No disk-full fault, because the caller asked for none. */
  static skipped(directory: string): DataDiskFiller {
    return new DataDiskFiller(directory, 'skipped', 'skipped on request (--no-disk-full)');
  }

  get available(): boolean {
    return this.method === 'tmpfs';
  }

  private get ballastPath(): string {
    return join(this.directory, '.chaos-ballast');
  }

  /** Writes until ENOSPC. Returns the bytes it took to fill the disk. */
  async fill(): Promise<number> {
    if (!this.available || this.filled) return 0;
    this.filled = true;
    const handle = await open(this.ballastPath, 'a');
    let written = 0;
    try {
      for (const chunk of [CHUNK, SMALL_CHUNK]) {
        for (;;) {
          try {
            const { bytesWritten } = await handle.write(chunk);
            written += bytesWritten;
            if (bytesWritten < chunk.length) break;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw error;
          }
        }
      }
    } finally {
      await handle.close();
    }
    return written;
  }

  async release(): Promise<void> {
    if (!this.filled) return;
    this.filled = false;
    await rm(this.ballastPath, { force: true });
  }

  /** Unmounts (the folder's contents go with it: check files before this). */
  async unmount(): Promise<void> {
    if (!this.available) return;
    await this.release();
    await run('umount', ['-l', this.directory]).catch(() => undefined);
  }
}
