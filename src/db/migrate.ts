/**
 * Runs the migrations of `migrations/`. The only file that imports Kysely's migration API:
 * Kysely 0.29 moves it to `kysely/migration`, and this keeps that upgrade to one line.
 */
import {
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  Migrator,
  PostgresAdapter,
  sql,
  type Kysely,
  type Migration,
  type MigrationProvider,
} from 'kysely';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { migrationModules } from './migrations/index.js';

/** The Migrator's bookkeeping tables, which introspection hides unless asked for them. */
export const kyselyBookkeepingTables: readonly string[] = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE];

const inCodeMigrationProvider: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...migrationModules };
  },
};

export async function createMigrator(db: Kysely<any>): Promise<Migrator> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return new Migrator({ db, provider: inCodeMigrationProvider });
  // Kysely looks for its bookkeeping tables in every schema when none is named, so with a
  // second schema on the server (another service, another test run) it would find theirs.
  // Name the one `search_path` selects. (Its introspection sees that schema only:
  // postgres-current-schema-dialect.ts.)
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema ?? 'public';
  return new Migrator({ db, provider: inCodeMigrationProvider, migrationTableSchema: schema });
}

/**
 * Brings the schema up to date; already-applied migrations are skipped. Returns the names of
 * the migrations this call applied (empty when the schema was current).
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // Migrator never throws: a failure comes back as `error`, with the failing step in `results`.
  const { error, results = [] } = await (await createMigrator(db)).migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error');
    const name = failed?.migrationName ?? '(before any migration ran)';
    const reason = error instanceof Error ? error.message : String(error);
    throw new ChorusError(ErrorCode.INTERNAL, `Database migration ${name} failed: ${reason}`, {
      cause: error,
      details: { migration: failed?.migrationName ?? null, results: results.map(({ migrationName, status }) => ({ migrationName, status })) },
      suggestion: 'The database was left at the last successful migration; fix the cause and start again.',
    });
  }
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
