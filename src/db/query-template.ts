/**
 * A query Kysely builds and compiles once and the store then runs many times with new values.
 *
 * Why: Kysely builds a query anew on every call (immutable, frozen operation nodes, then a
 * compiler pass over them). For the few statements every job runs several times (a
 * transition's UPDATE and event INSERT, the outbox reads and marks) that cost more CPU than
 * SQLite took to run them (profile in BENCHMARKS.md). A template is built with holes —
 * unique marker values — where the values that change go; compiling it shows which
 * parameter each hole became, so a call only puts its values there. Kysely stays the author
 * of the SQL (both dialects, typed builders); only the per-call building goes.
 */
import type { CompiledQuery, Compilable, QueryResult } from 'kysely';
import { setBounded } from './bounded-map.js';

/** What runs a compiled query: any Kysely instance or transaction. */
export interface CompiledQueryExecutor {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Stands for a value in a template; `never` so it fits any column's type. */
export type Hole<Name extends string> = (name: Name) => never;

const holePrefix = '\u0000chorus-hole:';

export class QueryTemplate<Name extends string, Row = unknown> {
  readonly #compiled: CompiledQuery<Row>;
  /** Per compiled parameter: the hole it came from, or undefined for a constant kept as compiled. */
  readonly #slots: ReadonlyArray<Name | undefined>;

  private constructor(compiled: CompiledQuery<Row>, slots: ReadonlyArray<Name | undefined>) {
    this.#compiled = compiled;
    this.#slots = slots;
  }

  /**
   * Builds the query once with `hole(name)` in place of each changing value. Every hole named
   * must become a parameter (a hole Kysely inlined into the SQL text would make every call
   * run with the marker), so a mistake fails here, not in production data.
   */
  static compile<Name extends string, Row>(names: readonly Name[], build: (hole: Hole<Name>) => Compilable<Row>): QueryTemplate<Name, Row> {
    const hole = ((name: Name) => `${holePrefix}${name}`) as Hole<Name>;
    const compiled = build(hole).compile();
    const slots = compiled.parameters.map((parameter) => {
      if (typeof parameter !== 'string' || !parameter.startsWith(holePrefix)) return undefined;
      return parameter.slice(holePrefix.length) as Name;
    });
    const missing = names.filter((name) => !slots.includes(name));
    if (missing.length > 0) throw new Error(`query template: holes ${missing.join(', ')} did not become parameters of: ${compiled.sql}`);
    if (compiled.sql.includes(holePrefix)) throw new Error(`query template: a hole was inlined into: ${compiled.sql}`);
    return new QueryTemplate(compiled, slots);
  }

  get sql(): string {
    return this.#compiled.sql;
  }

  /** Runs the compiled query on `db` (a Kysely instance or a transaction) with these values. */
  run(db: CompiledQueryExecutor, values: Readonly<Record<Name, unknown>>): Promise<QueryResult<Row>> {
    const constants = this.#compiled.parameters;
    const parameters = this.#slots.map((slot, index) => (slot === undefined ? constants[index] : values[slot]));
    return db.executeQuery<Row>({ ...this.#compiled, parameters });
  }
}

/**
 * Templates whose shape varies with the call (an UPDATE of the columns a transition changed),
 * one per shape. Shapes are few (one per kind of transition), but a bound keeps a caller
 * with unusual shapes from growing it without end.
 */
export class QueryTemplateCache<Name extends string, Row = unknown> {
  readonly #templates = new Map<string, QueryTemplate<Name, Row>>();
  readonly #maxEntries: number;

  constructor(maxEntries = 64) {
    this.#maxEntries = maxEntries;
  }

  get(shape: string, compile: () => QueryTemplate<Name, Row>): QueryTemplate<Name, Row> {
    const cached = this.#templates.get(shape);
    if (cached !== undefined) return cached;
    const template = compile();
    setBounded(this.#templates, shape, template, this.#maxEntries);
    return template;
  }

  get size(): number {
    return this.#templates.size;
  }
}
