/**
 * PostgreSQL: the transaction-scoped advisory lock that makes createJob's "count unfinished
 * jobs, then insert" atomic across connections and instances (the QUEUE_FULL limit). Held
 * only until the admission's commit; SQLite needs none (one writer at a time).
 */
import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from './database-schema.js';

/** An arbitrary constant naming "job admission" among the server's advisory locks. */
const admissionLockKey = 0x63_76_61_64; // "cvad"

export async function lockAdmission(trx: Kysely<DatabaseSchema>): Promise<void> {
  await sql`select pg_advisory_xact_lock(${admissionLockKey})`.execute(trx);
}
