/**
 * PostgreSQL through Kysely's PostgresDialect and a `pg` pool. The schema comes from the URL
 * like any libpq option (`?options=-c search_path=…`), which is how tests give every run its
 * own schema and how a deployment shares one server between services.
 */
import { Kysely } from 'kysely';
import pg from 'pg';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { DatabaseSchema } from './database-schema.js';
import { describeDatabase } from './database-url.js';
import { PostgresCurrentSchemaDialect } from './postgres-current-schema-dialect.js';
import type { Database } from './open-database.js';

export async function openPostgresDatabase(connectionString: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString, max: Math.max(1, poolSize) });
  // An idle client losing its server (restart, failover) must not crash the process; the
  // pool drops it and the next query opens a new connection.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    // Unreachable or refusing: a condition of the storage (retry later), not a bug.
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `Cannot connect to PostgreSQL ${describeDatabase(connectionString)}: ${(error as Error).message}`, {
      cause: error,
      details: { url: describeDatabase(connectionString) },
      suggestion: 'Check that the server runs and that database.url names a database this user may use.',
    });
  }
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresCurrentSchemaDialect({ pool }) });
  let closed = false;
  return {
    db,
    dialect: 'postgres',
    description: describeDatabase(connectionString),
    async close() {
      if (closed) return;
      closed = true;
      // Kysely's destroy ends the pool.
      await db.destroy();
    },
  };
}
