/**
 * Database URLs as the config spells them: `sqlite:<path>` (relative to the working
 * directory here: a config file's relative paths were made absolute against its folder
 * when it was read), `sqlite::memory:`, or `postgres://user:password@host/db`.
 */
import path from 'node:path';
import { inMemorySqlite, sqliteUrlFile } from '../contracts/sqlite-url.js';
import { ChorusError, ErrorCode } from '../errors/index.js';

export type DatabaseDialect = 'sqlite' | 'postgres';

export type DatabaseTarget = { dialect: 'sqlite' /** Absolute path, or `:memory:`. */; file: string } | { dialect: 'postgres'; connectionString: string };

export { inMemorySqlite };

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const sqlite = sqliteUrlFile(url);
  if (sqlite?.memory) return { dialect: 'sqlite', file: inMemorySqlite };
  if (sqlite) {
    if (sqlite.file.trim() === '') throw invalidUrl(url, 'the SQLite file path is empty');
    return { dialect: 'sqlite', file: path.resolve(sqlite.file) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return { dialect: 'postgres', connectionString: url };
  }
  throw invalidUrl(url, 'it must start with "sqlite:" or "postgres://"');
}

/** The URL as it may appear in logs: never the password. */
export function describeDatabase(url: string): string {
  let target: DatabaseTarget;
  try {
    target = parseDatabaseUrl(url);
  } catch {
    return '(invalid database url)';
  }
  if (target.dialect === 'sqlite') return `sqlite:${target.file}`;
  try {
    const parsed = new URL(target.connectionString);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}

function invalidUrl(url: string, reason: string): ChorusError {
  return new ChorusError(ErrorCode.CONFIG_INVALID, `database.url is not usable: ${reason}`, {
    // The URL itself is left out: an unrecognised one may still carry a password.
    details: { reason, scheme: url.split(':')[0] ?? '' },
    suggestion: 'Use "sqlite:data/chorus-visual.db", "sqlite::memory:" or "postgres://user:password@host/db".',
  });
}
