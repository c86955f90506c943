/**
 * The statements every job runs (admission, each transition, the outbox relay's read and
 * mark), compiled once per database as QueryTemplates instead of built by Kysely per call.
 * The rest of the store's queries stay plain Kysely in the repositories: they run rarely.
 *
 * Round trips matter on PostgreSQL (every statement is one exchange with the server, and the
 * `pg` driver sends one at a time), so there a transition is one statement — the fenced
 * UPDATE … RETURNING last_seq feeding the event INSERT in a data-modifying CTE — and an
 * admission inserts the job and its first event in one. SQLite runs in-process, where two
 * statements cost no more than one, and it has no data-modifying CTEs.
 */
import { sql, type Kysely, type QueryCreator } from 'kysely';
import { JobState, finalStates } from '../contracts/job-view.js';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import type { JobEventRecord, NewJobEventRecord } from './job-events.table.js';
import type { JobRecord, JobRecordUpdate, NewJobRecord } from './jobs.table.js';
import { QueryTemplate, QueryTemplateCache, type CompiledQueryExecutor, type Hole } from './query-template.js';

type Executor = Kysely<DatabaseSchema>;

/** Who may advance a job: its owner, and (`runToken`) only the owner's run that holds its id. */
export interface WriteFence {
  owner: string;
  runToken?: string;
}

type FenceKind = 'open' | 'owner' | 'run';

// A positive list, so the status index is used (`not in` would scan every finished job).
const unfinishedStatuses = Object.values(JobState).filter((state) => !finalStates.has(state));

const eventColumns = ['job_id', 'seq', 'type', 'from_state', 'to_state', 'data', 'at', 'published_at'] as const;
type EventHole = `event:${(typeof eventColumns)[number]}`;
const eventHoles = eventColumns.map((column) => `event:${column}` as const);

/** Column names come from code (the JobRow contract), but they are spliced into SQL: check them. */
const columnName = /^[a-z_][a-z0-9_]*$/;

function checkedColumns(record: object): string[] {
  const columns = Object.keys(record);
  for (const column of columns) if (!columnName.test(column)) throw new Error(`not a column name: ${JSON.stringify(column)}`);
  return columns;
}

function eventValues(hole: Hole<EventHole>) {
  return {
    job_id: hole('event:job_id'),
    seq: hole('event:seq'),
    type: hole('event:type'),
    from_state: hole('event:from_state'),
    to_state: hole('event:to_state'),
    data: hole('event:data'),
    at: hole('event:at'),
    published_at: hole('event:published_at'),
  };
}

/** `set:<column>`, made once per column name rather than on every transition. */
const setHoles = new Map<string, string>();
function setHole(column: string): string {
  let hole = setHoles.get(column);
  if (hole === undefined) {
    hole = `set:${column}`;
    if (setHoles.size < 256) setHoles.set(column, hole);
  }
  return hole;
}

function eventArguments(event: NewJobEventRecord): Record<EventHole, unknown> {
  return {
    'event:job_id': event.job_id,
    'event:seq': event.seq,
    'event:type': event.type,
    'event:from_state': event.from_state ?? null,
    'event:to_state': event.to_state,
    'event:data': event.data ?? '{}',
    'event:at': event.at,
    'event:published_at': event.published_at ?? null,
  };
}

/**
 * `column` is one of a list given as ONE parameter — a PostgreSQL array, or JSON text that
 * SQLite unpacks with json_each — so a statement has one shape for any number of ids and no
 * bound-parameter limit.
 */
function idIn(dialect: DatabaseDialect, column: 'id' | 'regenerated_from', list: never) {
  return dialect === 'postgres' ? sql<boolean>`${sql.ref(column)} = any(${list})` : sql<boolean>`${sql.ref(column)} in (select value from json_each(${list}))`;
}

export class JobStatements {
  readonly #db: Executor;
  readonly #dialect: DatabaseDialect;
  readonly #advances = new QueryTemplateCache<string, { seq?: number | string; last_seq?: number | string }>();
  readonly #jobInserts = new QueryTemplateCache<string>();
  readonly #insertEvent: QueryTemplate<EventHole>;
  readonly #findById: QueryTemplate<'id', JobRecord>;
  readonly #findByRequestId: QueryTemplate<'conversation_id' | 'request_id', JobRecord>;
  readonly #selectRegenerations: QueryTemplate<'ids', { id: string; regenerated_from: string | null }>;
  readonly #countUnfinished: QueryTemplate<never, { count: number | string }>;
  readonly #selectUnpublished: QueryTemplate<'limit', JobEventRecord>;
  readonly #markPublished: QueryTemplate<'ids' | 'at'>;

  constructor(db: Executor, dialect: DatabaseDialect) {
    this.#db = db;
    this.#dialect = dialect;
    this.#insertEvent = QueryTemplate.compile(eventHoles, (hole) => db.insertInto('job_events').values(eventValues(hole)));
    this.#findById = QueryTemplate.compile(['id'], (hole) => db.selectFrom('visual_generation_jobs').selectAll().where('id', '=', hole('id')));
    // A waiting job revived for its slot reads its row and its regenerations (job-service.ts).
    this.#selectRegenerations = QueryTemplate.compile(['ids'], (hole) =>
      db
        .selectFrom('visual_generation_jobs')
        .select(['id', 'regenerated_from'])
        .where(idIn(dialect, 'regenerated_from', hole('ids')))
        .orderBy('created_at', 'asc')
        .orderBy('id', 'asc'),
    );
    this.#findByRequestId = QueryTemplate.compile(['conversation_id', 'request_id'], (hole) =>
      db.selectFrom('visual_generation_jobs').selectAll().where('conversation_id', '=', hole('conversation_id')).where('request_id', '=', hole('request_id')),
    );
    this.#countUnfinished = QueryTemplate.compile([], () =>
      db
        .selectFrom('visual_generation_jobs')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .where('status', 'in', unfinishedStatuses),
    );
    this.#selectUnpublished = QueryTemplate.compile(['limit'], (hole) =>
      db.selectFrom('job_events').selectAll().where('published_at', 'is', null).orderBy('id', 'asc').limit(hole('limit')),
    );
    // One statement for any number of ids (idIn). Marked rows keep their first time.
    this.#markPublished = QueryTemplate.compile(['ids', 'at'], (hole) =>
      db
        .updateTable('job_events')
        .set({ published_at: hole('at') })
        .where(idIn(dialect, 'id', hole('ids')))
        .where('published_at', 'is', null),
    );
  }

  async findJobById(db: CompiledQueryExecutor, id: string): Promise<JobRecord | undefined> {
    return (await this.#findById.run(db, { id })).rows[0];
  }

  /** (source, regenerated job) pairs for the given sources, oldest regeneration first. */
  async selectRegenerations(db: CompiledQueryExecutor, sourceIds: readonly string[]): Promise<Array<{ id: string; regenerated_from: string }>> {
    if (sourceIds.length === 0) return [];
    const { rows } = await this.#selectRegenerations.run(db, { ids: this.#idList(sourceIds) });
    return rows.flatMap((row) => (row.regenerated_from === null ? [] : [{ id: row.id, regenerated_from: row.regenerated_from }]));
  }

  async findJobByRequestId(db: CompiledQueryExecutor, conversationId: string, requestId: string): Promise<JobRecord | undefined> {
    const { rows } = await this.#findByRequestId.run(db, { conversation_id: conversationId, request_id: requestId });
    return rows[0];
  }

  async countUnfinishedJobs(db: CompiledQueryExecutor): Promise<number> {
    const { rows } = await this.#countUnfinished.run(db, {});
    return Number(rows[0]?.count ?? 0);
  }

  /**
   * Inserts the job and its creation event. Nothing is read back: the store knows the row
   * it wrote (job-row-codec.ts `toCreatedJobRow`); reading it back cost a copy of every
   * column out of SQLite and a JSON parse of each JSON column, per admission.
   */
  async insertJob(db: CompiledQueryExecutor, record: NewJobRecord, event: NewJobEventRecord): Promise<void> {
    const columns = checkedColumns(record);
    const jobArguments = Object.fromEntries(columns.map((column) => [`job:${column}`, (record as Record<string, unknown>)[column]]));
    const values = { ...jobArguments, ...eventArguments(event) };
    const template = this.#jobInserts.get(columns.join(','), () => {
      const jobHoles = columns.map((column) => `job:${column}`);
      return QueryTemplate.compile(this.#dialect === 'postgres' ? [...jobHoles, ...eventHoles] : jobHoles, (hole) => {
        const job = Object.fromEntries(columns.map((column) => [column, hole(`job:${column}`)])) as unknown as NewJobRecord;
        if (this.#dialect !== 'postgres') return this.#db.insertInto('visual_generation_jobs').values(job);
        // The event's foreign key is checked at the end of the statement, after the job's insert.
        return this.#db
          .with('created', (qb) => qb.insertInto('visual_generation_jobs').values(job).returning('id'))
          .with('first_event', (qb) => qb.insertInto('job_events').values(eventValues(hole)))
          .selectFrom('created')
          .select('id');
      });
    });
    const { rows } = await template.run(db, values);
    if (this.#dialect !== 'postgres') {
      await this.#insertEvent.run(db, eventArguments(event));
      return;
    }
    if (rows[0] === undefined) throw new Error(`inserting job ${String(record.id)} returned no row`);
  }

  /**
   * Applies `update` and appends `event` with the job's next seq (`event.seq` is ignored).
   * Fenced when `fence` is given: only the job's owner may advance it, and with a `runToken`
   * only while that run of the owner still holds its id (its token on the owner's
   * `service_instances` row). Undefined when no row matched (the job is gone, another
   * instance owns it, or another run took the owner's id) — then nothing was written.
   */
  async advanceJob(
    db: CompiledQueryExecutor,
    jobId: string,
    update: JobRecordUpdate,
    updatedAt: string,
    fence: WriteFence | undefined,
    event: NewJobEventRecord,
  ): Promise<number | undefined> {
    const columns = checkedColumns(update);
    const kind: FenceKind = fence === undefined ? 'open' : fence.runToken === undefined ? 'owner' : 'run';
    const template = this.#advances.get(`${kind}:${columns.join(',')}`, () => this.#compileAdvance(columns, kind));
    // One object for both statements' values: the event's, then the update's beside them.
    const eventValues = eventArguments(event);
    const values: Record<string, unknown> = eventValues;
    values['job_id'] = jobId;
    values['updated_at'] = updatedAt;
    values['owner'] = fence?.owner;
    values['run_token'] = fence?.runToken;
    for (const column of columns) values[setHole(column)] = (update as Record<string, unknown>)[column];
    const { rows } = await template.run(db, values);
    const row = rows[0];
    if (row === undefined) return undefined;
    if (this.#dialect === 'postgres') return Number(row.seq);
    const seq = Number(row.last_seq);
    eventValues['event:seq'] = seq;
    await this.#insertEvent.run(db, eventValues);
    return seq;
  }

  async selectUnpublishedEvents(db: CompiledQueryExecutor, limit: number): Promise<JobEventRecord[]> {
    return (await this.#selectUnpublished.run(db, { limit })).rows;
  }

  async markEventsPublished(db: CompiledQueryExecutor, ids: readonly number[], at: string): Promise<void> {
    await this.#markPublished.run(db, { ids: this.#idList(ids), at });
  }

  /** A list of ids as the one parameter `idIn` takes. */
  #idList(ids: readonly (number | string)[]): unknown {
    return this.#dialect === 'postgres' ? [...ids] : JSON.stringify(ids);
  }

  #compileAdvance(columns: readonly string[], fence: FenceKind) {
    const fenceHoles = fence === 'open' ? [] : fence === 'owner' ? ['owner'] : ['owner', 'run_token'];
    const holes = [...columns.map((column) => `set:${column}`), 'job_id', 'updated_at', ...fenceHoles];
    const postgres = this.#dialect === 'postgres';
    return QueryTemplate.compile(postgres ? [...holes, ...eventHoles.filter((name) => name !== 'event:seq')] : holes, (hole) => {
      const set = Object.fromEntries(columns.map((column) => [column, hole(`set:${column}`)])) as JobRecordUpdate;
      const update = (db: QueryCreator<DatabaseSchema>) => {
        let query = db
          .updateTable('visual_generation_jobs')
          .set(set)
          .set((eb) => ({ last_seq: eb('last_seq', '+', 1), updated_at: hole('updated_at') }))
          .where('id', '=', hole('job_id'));
        if (fence !== 'open') query = query.where('owner_instance', '=', hole('owner'));
        if (fence === 'run') {
          query = query.where((eb) =>
            eb.exists(
              eb
                .selectFrom('service_instances')
                .select('service_instances.id')
                .whereRef('service_instances.id', '=', 'visual_generation_jobs.owner_instance')
                .where('service_instances.run_token', '=', hole('run_token')),
            ),
          );
        }
        return query.returning('last_seq');
      };
      if (!postgres) return update(this.#db);
      // One round trip: the event row is made from the UPDATE's new last_seq, so when the
      // UPDATE matches nothing (gone, or fenced out) no event is written either.
      return this.#db
        .with('advanced', update)
        .insertInto('job_events')
        .columns([...eventColumns])
        .expression((eb) =>
          eb
            .selectFrom('advanced')
            .select((inner) => [
              inner.val(hole('event:job_id')).as('job_id'),
              inner.ref('advanced.last_seq').as('seq'),
              inner.val(hole('event:type')).as('type'),
              inner.val(hole('event:from_state')).as('from_state'),
              inner.val(hole('event:to_state')).as('to_state'),
              inner.val(hole('event:data')).as('data'),
              inner.val(hole('event:at')).as('at'),
              inner.val(hole('event:published_at')).as('published_at'),
            ]),
        )
        .returning('seq');
    });
  }
}
