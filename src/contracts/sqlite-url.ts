/**
 * How a `sqlite:` database URL names its file: `sqlite:<file>`, the URL-ish spelling
 * `sqlite://<file>`, or `sqlite::memory:`. Read here once for the config (which resolves a
 * relative file against the config file's folder and tells a moved one) and for the store
 * (which opens it), so the two cannot read one URL as two files.
 */

export const inMemorySqlite = ':memory:';

/** `memory`: `sqlite::memory:`; otherwise the file as written (relative or absolute, possibly blank: the store refuses that). */
export type SqliteUrlFile = { memory: true } | { memory: false; file: string };

/** The file a `sqlite:` URL names; undefined for a URL of another scheme. */
export function sqliteUrlFile(url: string): SqliteUrlFile | undefined {
  if (!url.startsWith('sqlite:')) return undefined;
  const rest = url.slice('sqlite:'.length);
  if (rest === inMemorySqlite) return { memory: true };
  return { memory: false, file: rest.startsWith('//') ? rest.slice(2) : rest };
}
