/** The database layer's public surface: open, migrate, and the Kysely-backed JobStore. */
export { openDatabase, type Database, type OpenDatabaseOptions } from './open-database.js';
export { describeDatabase, parseDatabaseUrl, type DatabaseDialect, type DatabaseTarget } from './database-url.js';
export { migrateToLatest } from './migrate.js';
export { KyselyJobStore, type KyselyJobStoreOptions } from './kysely-job-store.js';
export { createJobStore, createInstanceCoordinator, type CreateJobStoreOptions, type DatabaseJobStore } from './create-job-store.js';
export { KyselyInstanceCoordinator } from './kysely-instance-coordinator.js';
export { databaseLeaseClock, leaseClockOf, localLeaseClock, type LeaseClock, type LeaseTime } from './lease-clock.js';
export type { DatabaseSchema } from './database-schema.js';
export type { JobsTable, JobRecord } from './jobs.table.js';
export type { JobEventsTable, JobEventRecord } from './job-events.table.js';
export { isUniqueViolation } from './unique-violation.js';
