import type { BackendSlotsTable, CoordinationLeasesTable, ServiceInstancesTable } from './coordination.tables.js';
import type { JobEventsTable } from './job-events.table.js';
import type { JobsTable } from './jobs.table.js';

/** Every table Kysely knows about; the migrations in `migrations/` create them. */
export interface DatabaseSchema {
  visual_generation_jobs: JobsTable;
  job_events: JobEventsTable;
  service_instances: ServiceInstancesTable;
  coordination_leases: CoordinationLeasesTable;
  backend_slots: BackendSlotsTable;
}
