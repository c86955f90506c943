/**
 * Recognises "a unique index refused this row" across drivers, so callers can treat a lost
 * insert race as "someone else created it" rather than a failure.
 */
const uniqueViolationCodes: ReadonlySet<string> = new Set([
  'SQLITE_CONSTRAINT_UNIQUE', // better-sqlite3
  'SQLITE_CONSTRAINT_PRIMARYKEY',
  '23505', // PostgreSQL unique_violation
]);

export function isUniqueViolation(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && uniqueViolationCodes.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
