import { migrateToLatest } from './migrate.js';
import { KyselyJobStore } from './kysely-job-store.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from './open-database.js';

export type DatabaseJobStore = KyselyJobStore & { readonly database: Database };

/** Opens the database, brings its schema up to date and returns a store that closes it. */
export async function createJobStore(url: string, options: OpenDatabaseOptions = {}): Promise<DatabaseJobStore> {
  const database = await openDatabase(url, options);
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const store = new KyselyJobStore(database.db, database.dialect, { close: () => database.close() });
  return Object.assign(store, { database });
}
