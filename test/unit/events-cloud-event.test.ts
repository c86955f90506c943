import { describe, expect, it } from 'vitest';
import { cloudEventSchema, decodeSubjectToken, encodeSubjectToken, eventName, eventSubject, subjectMatches, toCloudEvent } from '../../src/events/index.js';
import type { JobEventRow } from '../../src/contracts/job-store-port.js';

const row = (over: Partial<JobEventRow> = {}): JobEventRow => ({
  id: 7,
  job_id: 'job-1',
  seq: 3,
  type: 'processing',
  from_state: 'submitted',
  to_state: 'processing',
  data: { job: { id: 'job-1', conversation_id: 'c1', state: 'processing', prompt: 'a cat' } },
  at: '2026-11-25T12:00:00.000Z',
  published_at: null,
  ...over,
});

describe('toCloudEvent', () => {
  it('builds a CloudEvents 1.0 envelope from a transition row', () => {
    const event = toCloudEvent(row(), 'chorus-visual/test');
    expect(cloudEventSchema.parse(event)).toBeTruthy();
    expect(event).toMatchObject({
      specversion: '1.0',
      id: 'job-1:3',
      type: 'chorus.visual.job.processing',
      source: 'chorus-visual/test',
      subject: 'job-1',
      time: '2026-11-25T12:00:00.000Z',
      datacontenttype: 'application/json',
    });
    expect(event.data).toMatchObject({
      id: 'job-1',
      conversation_id: 'c1',
      state: 'processing',
      prompt: 'a cat',
      seq: 3,
      from_state: 'submitted',
      event: 'processing',
    });
    expect(event.data.details).toBeUndefined();
  });

  it('names in-state events by their type and keeps extra row data as details', () => {
    const event = toCloudEvent(
      row({ type: 'overdue', from_state: 'processing', to_state: 'processing', data: { job: { id: 'job-1' }, elapsed_ms: 301000 } }),
      's',
    );
    expect(event.type).toBe('chorus.visual.job.overdue');
    expect(event.data.details).toEqual({ elapsed_ms: 301000 });
  });

  it('names the creation event by the state it enters', () => {
    expect(eventName({ type: 'created', from_state: null, to_state: 'queued' })).toBe('queued');
    expect(eventName({ type: 'queued', from_state: 'queued', to_state: 'queued' })).toBe('queued');
    expect(eventName({ type: 'composing', from_state: 'queued', to_state: 'queued' })).toBe('composing');
  });

  it('names rows stored as positions (top-level.sub) by the top-level state they enter', () => {
    expect(eventName({ type: 'created', from_state: null, to_state: 'queued.composing' })).toBe('queued');
    expect(eventName({ type: 'waiting', from_state: 'queued.composing', to_state: 'queued.waiting' })).toBe('waiting');
    expect(eventName({ type: 'submitted', from_state: 'queued.submitting', to_state: 'submitted.pending' })).toBe('submitted');
    expect(eventName({ type: 'overdue', from_state: 'processing.running', to_state: 'processing.overdue' })).toBe('overdue');
    expect(eventName({ type: 'completed', from_state: 'moving', to_state: 'completed' })).toBe('completed');
  });

  it('still produces an event from a malformed row (the outbox must never block)', () => {
    const event = toCloudEvent(row({ data: { job: 'not an object' } as never }), 's');
    expect(event.id).toBe('job-1:3');
    expect(event.data.id).toBe('job-1');
    // A malformed row keeps nothing of its data (no half-trusted details), whatever its shape.
    for (const data of [{ job: ['x'], extra: 1 }, { job: null, extra: 1 }, null, 'text', [1, 2]]) {
      const odd = toCloudEvent(row({ data: data as never }), 's');
      expect(odd.data).toEqual({ id: 'job-1', seq: 3, from_state: 'submitted', event: 'processing' });
    }
    // No `job` at all is not malformed: the extras are still its details.
    expect(toCloudEvent(row({ data: { reason: 'r' } as never }), 's').data.details).toEqual({ reason: 'r' });
  });
});

describe('event subjects', () => {
  it('puts conversation, job and state in their own tokens', () => {
    expect(eventSubject('chorus.visual', 'c1', 'j1', 'completed')).toBe('chorus.visual.events.c1.j1.completed');
  });

  it('encodes dots and wildcards so an id stays one token, reversibly', () => {
    const subject = eventSubject('p', 'conv.1', 'j*>', 'queued');
    expect(subject).toBe('p.events.conv%2E1.j%2A%3E.queued');
    expect(subject.split('.')).toHaveLength(5);
    expect(decodeSubjectToken(encodeSubjectToken('a.b%2E c'))).toBe('a.b%2E c');
  });

  it('matches NATS wildcards like the server', () => {
    expect(subjectMatches('p.events.c1.>', 'p.events.c1.j1.queued')).toBe(true);
    expect(subjectMatches('p.events.c1.>', 'p.events.c1')).toBe(false);
    expect(subjectMatches('p.events.*.j1.*', 'p.events.c9.j1.progress')).toBe(true);
    expect(subjectMatches('p.events.*.j1.*', 'p.events.c9.j2.progress')).toBe(false);
    expect(subjectMatches('p.events.*', 'p.events.a.b')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
  });
});
