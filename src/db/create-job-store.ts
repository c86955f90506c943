import { migrateToLatest } from './migrate.js';
import { KyselyInstanceCoordinator } from './kysely-instance-coordinator.js';
import { KyselyJobStore } from './kysely-job-store.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from './open-database.js';
import { inMemorySqlite, parseDatabaseUrl } from './database-url.js';
import { leaseClockOf } from './lease-clock.js';
import { withSqliteMigrationLock } from './sqlite-migration-lock.js';

export type DatabaseJobStore = KyselyJobStore & { readonly database: Database };

export interface CreateJobStoreOptions extends OpenDatabaseOptions {
  /** Several instances share the database: jobs are owned by this instance (see KyselyJobStoreOptions). */
  ownerInstance?: string;
  /** With `ownerInstance`: this run's token; transitions are written only while the run holds the id. */
  runToken?: string;
}

/** Opens the database, brings its schema up to date and returns a store that closes it. */
export async function createJobStore(url: string, options: CreateJobStoreOptions = {}): Promise<DatabaseJobStore> {
  const database = await openDatabase(url, options);
  const target = parseDatabaseUrl(url);
  try {
    if (target.dialect === 'sqlite' && target.file !== inMemorySqlite) await withSqliteMigrationLock(target.file, () => migrateToLatest(database.db));
    else await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const store = new KyselyJobStore(database.db, database.dialect, {
    close: () => database.close(),
    ...(database.direct === undefined ? {} : { direct: database.direct }),
    ...(options.ownerInstance === undefined ? {} : { ownerInstance: options.ownerInstance }),
    ...(options.runToken === undefined ? {} : { runToken: options.runToken }),
  });
  return Object.assign(store, { database });
}

/**
 * The coordination side of a store's database (instances, leases, backend slots). Lease
 * times come from the database's clock on PostgreSQL; `now` (the process's clock, default
 * Date.now) serves SQLite only.
 */
export function createInstanceCoordinator(store: DatabaseJobStore, now?: () => number): KyselyInstanceCoordinator {
  return new KyselyInstanceCoordinator(store.database.db, store.database.dialect, leaseClockOf(store.database.dialect, now));
}
