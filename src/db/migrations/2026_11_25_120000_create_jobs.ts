/**
 * Frozen in time: this migration describes the table as it was on its date and must never
 * import the app's current types or constants. Later changes are new migrations.
 * `ifNotExists` everywhere: Kysely runs SQLite migrations outside a transaction, so a
 * migration interrupted half-way must be able to run again.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('visual_generation_jobs')
    .ifNotExists()
    // The original design's columns, names unchanged so Chorus Engine can read them.
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('thread_id', 'text')
    .addColumn('message_id', 'text')
    .addColumn('workflow', 'text', (col) => col.notNull())
    .addColumn('prompt', 'text')
    .addColumn('parameters', 'text', (col) => col.notNull().defaultTo('{}'))
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('started_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('comfy_prompt_id', 'text')
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    // Ours.
    .addColumn('substate', 'text')
    .addColumn('character', 'text')
    .addColumn('negative_prompt', 'text')
    // bigint: ComfyUI seeds reach 2^53-1 (SQLite stores it as a 64-bit INTEGER).
    .addColumn('seed', 'bigint')
    .addColumn('prompt_source', 'text')
    .addColumn('request_id', 'text', (col) => col.unique())
    .addColumn('priority', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('backend', 'text')
    .addColumn('submitted_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('snapshot', 'text')
    .addColumn('debug', 'text', (col) => col.notNull().defaultTo('{}'))
    .addColumn('last_seq', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();

  await db.schema.createIndex('visual_generation_jobs_status_idx').ifNotExists().on('visual_generation_jobs').column('status').execute();
  await db.schema.createIndex('visual_generation_jobs_conversation_id_idx').ifNotExists().on('visual_generation_jobs').column('conversation_id').execute();
  await db.schema.createIndex('visual_generation_jobs_created_at_idx').ifNotExists().on('visual_generation_jobs').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('visual_generation_jobs').execute();
}
