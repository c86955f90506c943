/**
 * Frozen in time: this migration describes the table as it was on its date and must never
 * import the app's current types or constants. Later changes are new migrations.
 * `ifNotExists` everywhere: Kysely runs SQLite migrations outside a transaction, so a
 * migration interrupted half-way must be able to run again.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // The one dialect difference in our schema: how a database generates increasing ids.
  // `getExecutor()` is marked internal, but it is the only handle a migration has on the dialect.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .createTable('job_events')
    .ifNotExists()
    .addColumn('id', postgres ? 'bigint' : 'integer', (col) =>
      // AUTOINCREMENT so SQLite never reuses an id: the outbox order must only go forward.
      postgres ? col.primaryKey().generatedAlwaysAsIdentity() : col.primaryKey().autoIncrement(),
    )
    .addColumn('job_id', 'text', (col) => col.notNull().references('visual_generation_jobs.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text', (col) => col.notNull())
    .addColumn('data', 'text', (col) => col.notNull().defaultTo('{}'))
    .addColumn('at', 'text', (col) => col.notNull())
    .addColumn('published_at', 'text')
    .addUniqueConstraint('job_events_job_id_seq_unique', ['job_id', 'seq'])
    .execute();

  // Partial: the relay only ever looks for unpublished rows, which are few once it keeps up.
  await db.schema.createIndex('job_events_unpublished_idx').ifNotExists().on('job_events').column('id').where(sql.ref('published_at'), 'is', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('job_events').execute();
}
