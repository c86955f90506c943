/**
 * A stop request while the job runtime is still opening (database open and migrated, the
 * characters folder still being read): the start stops waiting at once, but gives the driver
 * lock back only once that runtime is closed, so no other process drives the database while
 * this one may still write to it. The character file is a FIFO, so the runtime is held at a
 * known step for as long as the test keeps it unwritten.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startApp } from '../../src/app/chorus-visual-app.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { driverLockPathsFor, StoreDriverLock } from '../../src/db/store-driver-lock.js';
import { freePort } from '../support/lifecycle-fixture.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

it('a signal while the runtime opens: the start ends, and the driver lock is held until that runtime is closed', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-start-opening-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const characters = join(root, 'characters');
  await mkdir(characters);
  const fifo = join(characters, 'held.yaml');
  execFileSync('mkfifo', [fifo]);
  const databaseUrl = `sqlite:${join(root, 'jobs.db')}`;
  const config = parseServiceConfig({
    comfyui: { url: `http://127.0.0.1:${await freePort()}` },
    data_dir: root,
    workflows_dir: 'workflows',
    characters_dir: characters,
    database: { url: databaseUrl },
    nats: { enabled: false },
    http: { enabled: false },
  });
  const lockPaths = driverLockPathsFor(databaseUrl)!;
  const controller = new AbortController();
  let fileWritten = false;
  const outcome = startApp({ config, bus: 'memory', http: false, signal: controller.signal }).then(
    (app) => ({ app, fileWritten }),
    (error: unknown) => ({ error, fileWritten }),
  );

  // Opening a FIFO to write waits for a reader: the runtime is reading its characters now.
  const writer = await open(fifo, 'w');
  cleanups.push(() => writer.close());
  const reason = new Error('stop requested');
  controller.abort(reason);
  // The old start settled (and gave the lock back) within microtasks of the abort; this bound
  // can only let an early settle go unseen on a slow machine, never fail a correct start.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(StoreDriverLock.currentHolder(lockPaths)).toBeDefined();

  fileWritten = true;
  await writer.close();
  const result = await outcome;
  expect(result).toMatchObject({ error: reason, fileWritten: true });
  expect(StoreDriverLock.currentHolder(lockPaths)).toBeUndefined();
  // Nothing of this start is left holding the database: another driver takes it.
  await rm(fifo);
  const next = await startApp({ config, bus: 'memory', http: false });
  await next.stop();
}, 30_000);
