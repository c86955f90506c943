/**
 * PostgreSQL as Kysely's PostgresDialect, but introspection sees only the schema
 * `search_path` selects. Kysely's Migrator introspects on every run (does its bookkeeping
 * table exist?), and Kysely's own introspector lists the tables of every schema on the
 * server, calling `has_schema_privilege(<name>)` and `pg_get_serial_sequence(<name>)` per
 * row. Those look the name up again in the live catalog, so a schema another service or
 * test run drops while the query runs fails our migration with `schema "<theirs>" does not
 * exist`. This query filters to `current_schema()` and looks nothing up by name.
 */
import { PostgresDialect, PostgresIntrospector, sql, type DatabaseMetadataOptions, type Kysely, type TableMetadata } from 'kysely';
import { kyselyBookkeepingTables } from './migrate.js';

export class PostgresCurrentSchemaDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): PostgresIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

interface ColumnRow {
  schema: string;
  table: string;
  table_type: string;
  column: string;
  not_null: boolean;
  has_default: boolean;
  type: string;
  type_schema: string;
  column_description: string | null;
  auto_incrementing: boolean;
}

/** getSchemas and getMetadata are Kysely's (a plain pg_namespace scan cannot race). */
class CurrentSchemaIntrospector extends PostgresIntrospector {
  readonly #db: Kysely<unknown>;

  constructor(db: Kysely<unknown>) {
    super(db);
    this.#db = db;
  }

  override async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const hidden = options.withInternalKyselyTables ? [] : kyselyBookkeepingTables;
    // Auto-incrementing as pg_get_serial_sequence decides it, by oid: an identity column,
    // or a sequence owned by the column.
    const { rows } = await sql<ColumnRow>`
      select ns.nspname as schema, c.relname as table, c.relkind as table_type, a.attname as column,
        a.attnotnull as not_null, a.atthasdef as has_default, typ.typname as type, dtns.nspname as type_schema,
        col_description(a.attrelid, a.attnum) as column_description,
        (a.attidentity <> '' or exists (
          select 1 from pg_catalog.pg_depend d join pg_catalog.pg_class s on s.oid = d.objid and s.relkind = 'S'
          where d.classid = 'pg_catalog.pg_class'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
            and d.refobjid = c.oid and d.refobjsubid = a.attnum and d.deptype = 'a'
        )) as auto_incrementing
      from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on c.oid = a.attrelid
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
        join pg_catalog.pg_type typ on typ.oid = a.atttypid
        join pg_catalog.pg_namespace dtns on dtns.oid = typ.typnamespace
      where ns.nspname = current_schema() and c.relkind in ('r', 'v', 'p') and a.attnum >= 0 and not a.attisdropped
        and not (c.relname = any(${hidden}::text[]))
      order by c.relname, a.attnum`.execute(this.#db);
    return groupColumns(rows);
  }
}

function groupColumns(rows: ColumnRow[]): TableMetadata[] {
  const tables = new Map<string, TableMetadata>();
  for (const row of rows) {
    let table = tables.get(row.table);
    if (table === undefined) {
      table = { name: row.table, schema: row.schema, isView: row.table_type === 'v', columns: [] };
      tables.set(row.table, table);
    }
    table.columns.push({
      name: row.column,
      dataType: row.type,
      dataTypeSchema: row.type_schema,
      isAutoIncrementing: row.auto_incrementing,
      isNullable: !row.not_null,
      hasDefaultValue: row.has_default,
      ...(row.column_description === null ? {} : { comment: row.column_description }),
    });
  }
  return [...tables.values()];
}
