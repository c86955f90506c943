/**
 * The driver lock of a SQLite database: one holder at a time, in one process or across
 * processes; the refusal names the holder; and the lock dies with its process, SIGKILL
 * included, so a crash never leaves a database that nothing may drive.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { driverLockPathsFor, lockHolderOf, StoreDriverLock } from '../../src/db/store-driver-lock.js';
import { ChorusError } from '../../src/errors/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function databaseUrl(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-lock-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return `sqlite:${join(dir, 'jobs.db')}`;
}

const holder = { instance_id: 'one', command: 'serve', http_url: null, nats: null };

describe('the driver lock', () => {
  it('admits one holder; the second is refused with STORE_LOCKED naming the first; release frees it', async () => {
    const paths = driverLockPathsFor(await databaseUrl())!;
    const lock = StoreDriverLock.acquire(paths, holder);
    lock.describe({ state: 'serving', http_url: 'http://127.0.0.1:1234' });

    let refusal: unknown;
    try {
      StoreDriverLock.acquire(paths, { ...holder, instance_id: 'two' });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ChorusError);
    expect((refusal as ChorusError).code).toBe('STORE_LOCKED');
    expect(lockHolderOf(refusal)).toMatchObject({
      instance_id: 'one',
      pid: process.pid,
      host: hostname(),
      state: 'serving',
      http_url: 'http://127.0.0.1:1234',
    });
    expect(StoreDriverLock.currentHolder(paths)).toMatchObject({ instance_id: 'one' });

    lock.release();
    expect(existsSync(paths.holderFile)).toBe(false);
    expect(StoreDriverLock.currentHolder(paths)).toBeUndefined();
    StoreDriverLock.acquire(paths, { ...holder, instance_id: 'two' }).release();
  });

  it('needs no lock where there is no file to share (PostgreSQL, :memory:)', () => {
    expect(driverLockPathsFor('postgres://u:p@127.0.0.1/db')).toBeUndefined();
    expect(driverLockPathsFor('sqlite::memory:')).toBeUndefined();
  });

  it('dies with a SIGKILLed holder process: the next driver takes it at once', async () => {
    const url = await databaseUrl();
    const paths = driverLockPathsFor(url)!;
    const script = `
      import { StoreDriverLock, driverLockPathsFor } from './src/db/store-driver-lock.ts';
      StoreDriverLock.acquire(driverLockPathsFor(${JSON.stringify(url)}), { instance_id: 'doomed', command: 'serve', http_url: null, nats: null });
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(async () => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
    });
    expect(StoreDriverLock.currentHolder(paths)).toMatchObject({ instance_id: 'doomed', pid: child.pid });
    expect(() => StoreDriverLock.acquire(paths, holder)).toThrow(/driven by serve instance doomed/);

    child.kill('SIGKILL');
    await once(child, 'exit');
    // Its holder file is still there (nothing ran at its death), and is ignored: the lock is free.
    expect(existsSync(paths.holderFile)).toBe(true);
    expect(StoreDriverLock.currentHolder(paths)).toBeUndefined();
    const lock = StoreDriverLock.acquire(paths, holder);
    expect(lock.current.pid).toBe(process.pid);
    lock.release();
  });
});
