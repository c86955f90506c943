/**
 * Counts PostgreSQL round trips in a process it is preloaded into
 * (`NODE_OPTIONS="--import ./bench/pg-round-trip-counter.mjs"`, file named by
 * `CHORUS_BENCH_PG_COUNT_FILE`): every `pg.Client#query` is one request/response exchange with
 * the server (node-postgres sends a client's queries one at a time, never pipelined). On exit it
 * writes the total and the count per statement shape (the SQL text up to its first parameter).
 * Plain JavaScript because it loads before the TypeScript loader does. Benchmark use only.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const countFile = process.env.CHORUS_BENCH_PG_COUNT_FILE;
if (countFile) {
  const pg = createRequire(`${process.cwd()}/package.json`)('pg');
  const byShape = new Map();
  let total = 0;
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(config, ...rest) {
    total += 1;
    const text = typeof config === 'string' ? config : typeof config?.text === 'string' ? config.text : '?';
    const shape = text.replace(/\s+/g, ' ').slice(0, 90);
    byShape.set(shape, (byShape.get(shape) ?? 0) + 1);
    return original.call(this, config, ...rest);
  };
  // The benchmark reads the count between its first request and its last completion.
  process.on('SIGUSR2', () => writeCounts(countFile));
  process.on('exit', () => writeCounts(countFile));
  function writeCounts(file) {
    const shapes = Object.fromEntries([...byShape.entries()].sort((a, b) => b[1] - a[1]));
    // Whole or not at all: the benchmark reads the file as soon as it appears.
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ total, shapes })}\n`);
    renameSync(`${file}.tmp`, file);
  }
}
