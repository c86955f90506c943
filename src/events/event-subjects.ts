/**
 * NATS subjects of chorus-visual events:
 *   `${prefix}.events.${conversation_id}.${job_id}.${suffix}`
 * where suffix is the top-level state entered (`queued` … `cancelled`), `progress` for
 * progress ticks, or the event type for events that stay in one state (e.g. `overdue`).
 *
 * Ids become single subject tokens. Our ids (safeId) may contain ".", which NATS reads as
 * a token separator, so ".", "*", ">", "%" and whitespace are percent-encoded ("." → "%2E").
 * Encoding instead of replacing keeps two different ids from sharing a subject.
 */
export function encodeSubjectToken(value: string): string {
  if (value.length === 0) return '_';
  return value.replace(/[.*>%\s]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function decodeSubjectToken(token: string): string {
  return token.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function eventSubject(prefix: string, conversationId: string, jobId: string, suffix: string): string {
  return `${prefix}.events.${encodeSubjectToken(conversationId)}.${encodeSubjectToken(jobId)}.${encodeSubjectToken(suffix)}`;
}

/** Every event of every job: the JetStream stream's subject filter. */
export function allEventsSubject(prefix: string): string {
  return `${prefix}.events.>`;
}

/** Every event of one conversation. */
export function conversationEventsSubject(prefix: string, conversationId: string): string {
  return `${prefix}.events.${encodeSubjectToken(conversationId)}.>`;
}

/** Every event of one job (any conversation token, since callers may know only the job). */
export function jobEventsSubject(prefix: string, jobId: string): string {
  return `${prefix}.events.*.${encodeSubjectToken(jobId)}.*`;
}

/**
 * NATS wildcard matching: `*` is exactly one token, `>` (last) is one or more tokens.
 * Used by the in-memory bus so tests and single-process runs route like NATS does.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
