import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueryTemplate, QueryTemplateCache } from '../../src/db/query-template.js';

interface Schema {
  t: { k: string; v: number; note: string | null };
}

describe('QueryTemplate', () => {
  let db: Kysely<Schema>;
  beforeEach(async () => {
    db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    await sql`create table t (k text primary key, v integer not null, note text)`.execute(db);
  });
  afterEach(async () => {
    await db.destroy();
  });

  it('runs the query compiled once with each call’s values in the holes, constants kept', async () => {
    const insert = QueryTemplate.compile(['k', 'v'], (hole) => db.insertInto('t').values({ k: hole('k'), v: hole('v'), note: 'constant' }));
    await insert.run(db, { k: 'a', v: 1 });
    await insert.run(db, { k: 'b', v: 2 });
    // The holes may come out in any order in the SQL: here the filter's hole precedes the limit's.
    const select = QueryTemplate.compile(['min', 'limit'], (hole) =>
      db.selectFrom('t').selectAll().where('v', '>=', hole('min')).orderBy('k').limit(hole('limit')),
    );
    expect((await select.run(db, { limit: 5, min: 2 })).rows).toEqual([{ k: 'b', v: 2, note: 'constant' }]);
    expect((await select.run(db, { limit: 1, min: 0 })).rows).toEqual([{ k: 'a', v: 1, note: 'constant' }]);
  });

  it('refuses a template where a hole did not become a parameter', () => {
    expect(() => QueryTemplate.compile(['k', 'forgotten'], (hole) => db.selectFrom('t').selectAll().where('k', '=', hole('k')))).toThrow(/forgotten/);
    expect(() =>
      QueryTemplate.compile(['k'], (hole) =>
        db
          .selectFrom('t')
          .selectAll()
          .where('k', '=', hole('k'))
          .where(sql<string>`${sql.lit(hole('k'))}`, '=', 'x'),
      ),
    ).toThrow(/inlined/);
  });

  it('keeps one template per shape, up to a bound', () => {
    const cache = new QueryTemplateCache<'k'>(2);
    let compiled = 0;
    const compile = () => {
      compiled += 1;
      return QueryTemplate.compile(['k'], (hole) => db.selectFrom('t').selectAll().where('k', '=', hole('k')));
    };
    cache.get('a', compile);
    cache.get('a', compile);
    cache.get('b', compile);
    cache.get('c', compile);
    expect(compiled).toBe(3);
    expect(cache.size).toBe(2);
  });
});
