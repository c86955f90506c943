/**
 * Commands that only read the jobs (`jobs list`, `show`, `watch`, and the id lookup of
 * `cancel` and `regenerate`) must not create a database: opening a SQLite file that is not
 * there makes one, with its folder, wherever the config points — in an empty folder, or in
 * the wrong folder when the config names another place. They look first, and say there is none.
 */
import { existsSync } from 'node:fs';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { inMemorySqlite, parseDatabaseUrl } from '../db/database-url.js';

/** The SQLite file `url` names when it does not exist; undefined when it does, or for PostgreSQL and `:memory:`. */
export function absentDatabaseFile(url: string): string | undefined {
  const target = parseDatabaseUrl(url);
  if (target.dialect !== 'sqlite' || target.file === inMemorySqlite) return undefined;
  return existsSync(target.file) ? undefined : target.file;
}

const lookElsewhere =
  'Nothing has run with this config yet, or the config names another database: check --config, CHORUS_VISUAL_CONFIG and CHORUS_VISUAL_DATABASE_URL / CHORUS_VISUAL_DATA_DIR (a relative path in a config file is relative to its folder).';

/** The note `jobs list` prints on stderr beside its empty list. */
export function absentDatabaseNote(file: string): string {
  return `note: there is no job database at ${file} (nothing was created). ${lookElsewhere}\n`;
}

/** A job asked for by id, in a database that does not exist. */
export function noJobWithoutDatabase(jobId: string, file: string): ChorusError {
  return new ChorusError(ErrorCode.JOB_NOT_FOUND, `no job with id ${jobId}: there is no job database at ${file} (nothing was created)`, {
    details: { job_id: jobId, database: file },
    suggestion: lookElsewhere,
  });
}
