import type { JobEventsTable } from './job-events.table.js';
import type { JobsTable } from './jobs.table.js';

/** Every table Kysely knows about; the migrations in `migrations/` create them. */
export interface DatabaseSchema {
  visual_generation_jobs: JobsTable;
  job_events: JobEventsTable;
}
