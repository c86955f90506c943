/**
 * WAL checkpoints run on a worker thread, not inside a commit on the event loop: the store's
 * connection checkpoints only far out (a safety net), yet its WAL stays small because the worker
 * checkpoints it; a worker that cannot run hands checkpointing back to the connection.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { SqliteCheckpointer } from '../../src/db/sqlite-checkpointer.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'db-checkpointer-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const walBytes = async (file: string) => (await stat(`${file}-wal`).catch(() => ({ size: 0 }))).size;

describe('SQLite checkpoints off the event loop', () => {
  it('a database closed within its first second never starts the thread', async () => {
    const file = path.join(root, 'brief.db');
    const database = await openDatabase(`sqlite:${file}`);
    const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(database.db);
    expect(rows[0]!.wal_autocheckpoint).toBe(1000);
    await database.close();
  });

  it("the store's connection checkpoints only past 16 MB, and its WAL still stays small: the worker checkpoints it", async () => {
    const file = path.join(root, 'jobs.db');
    const database = await openDatabase(`sqlite:${file}`, { checkpointIntervalMs: 10, checkpointStartAfterMs: 0 });
    try {
      const threshold = async () => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(database.db)).rows[0]!.wal_autocheckpoint;
      for (let i = 0; i < 100 && (await threshold()) !== 4000; i++) await pause(20); // the worker thread starting up
      expect(await threshold()).toBe(4000);
      await sql`create table t (id integer primary key, body text)`.execute(database.db);
      const body = 'x'.repeat(4000);
      // 8 MB through the WAL in 40 bursts, with the event loop free between them.
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 50; i++) await sql`insert into t (body) values (${body})`.execute(database.db);
        await pause(25);
      }
      // The connection alone (16 MB threshold) would let the WAL hold all 8 MB; SQLite's default ~4 MB.
      expect(await walBytes(file)).toBeLessThan(2 * 1024 ** 2);
    } finally {
      await database.close();
    }
    // Closed cleanly: the last connection folded the WAL in and removed it.
    expect(await walBytes(file)).toBe(0);
    const reopened = new BetterSqlite3(file);
    expect(reopened.prepare('select count(*) as n from t').get()).toEqual({ n: 2000 });
    reopened.close();
  });

  it('a worker that cannot start hands checkpointing back to the connection', async () => {
    const file = path.join(root, 'plain.db');
    const handle = new BetterSqlite3(file);
    handle.pragma('journal_mode = WAL');
    const told: unknown[] = [];
    const checkpointer = new SqliteCheckpointer(handle, file, {
      driver: path.join(root, 'no-such-driver.js'),
      startAfterMs: 0,
      onFallback: (error) => told.push(error),
    });
    for (let i = 0; i < 100 && !checkpointer.fellBack; i++) await pause(20);
    expect(checkpointer.fellBack).toBe(true);
    expect(told).toHaveLength(1);
    expect(String(told[0])).toMatch(/no-such-driver/);
    expect(checkpointer.running).toBe(false);
    expect(handle.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await checkpointer.stop();
    handle.close();
  });
});
