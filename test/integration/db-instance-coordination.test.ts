/**
 * The coordination tables several instances share (issue 9), on SQLite and PostgreSQL:
 * claiming orphaned jobs, fenced transitions, named leases and backend slots.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseJobStore, KyselyInstanceCoordinator } from '../../src/db/index.js';
import { isOwnershipLost } from '../../src/errors/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue, steppedCoordinator } from './db-test-fixtures.js';

describe.each(databaseTargets)('instance coordination on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let storeA: DatabaseJobStore;
  let storeB: DatabaseJobStore;
  let coordinator: KyselyInstanceCoordinator;
  /** Moves the lease clock on (on PostgreSQL, the database's clock as the coordinator reads it). */
  let advance: (ms: number) => void;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    storeA = await home.open({ ownerInstance: 'a' });
    storeB = await home.open({ ownerInstance: 'b' });
    ({ coordinator, advance } = steppedCoordinator(storeA));
  });
  const rowOf = async (id: string) => (await coordinator.listInstances()).find((instance) => instance.id === id);
  afterEach(async () => {
    await home.cleanup();
  });

  it("leaves a live owner its jobs and hands a lapsed owner's jobs to one claimer", async () => {
    await coordinator.claimInstance('a', 'run-a', 10_000);
    await coordinator.claimInstance('b', 'run-b', 10_000);
    const job = newJob();
    const created = await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    expect(created.job.owner_instance).toBe('a');

    expect(await coordinator.claimJobs('b', 10)).toEqual([]);
    advance(5_000);
    expect(await coordinator.heartbeat('b', 'run-b', 10_000)).toEqual({ standing: 'held' });
    advance(6_000); // a's lease (10 s) lapsed, b's has not
    const claimed = await coordinator.claimJobs('b', 10);
    expect(claimed.map((row) => [row.id, row.owner_instance])).toEqual([[job.id, 'b']]);
    expect(await coordinator.claimJobs('c', 10)).toEqual([]);
  });

  it('an instance id is taken only when no live instance holds it: new, lapsed or retired', async () => {
    expect(await coordinator.claimInstance('a', 'run-1', 10_000)).toEqual({ claimed: true });
    const claimed = (await rowOf('a'))!;
    advance(3_000);
    const refused = await coordinator.claimInstance('a', 'run-2', 10_000);
    expect(refused).toMatchObject({ claimed: false, holder: { id: 'a', alive: true, heartbeat_at: claimed.heartbeat_at } });
    expect(refused).not.toHaveProperty('holder.run_token'); // a fence, not something to show
    if (!refused.claimed) expect(refused.holder.lease_left_ms).toBeGreaterThan(6_000); // 7 s left, read with the row
    await coordinator.heartbeat('a', 'run-1', 10_000); // the holder renews: still refused, with its new heartbeat
    const renewed = (await rowOf('a'))!;
    expect(Date.parse(renewed.heartbeat_at) - Date.parse(claimed.heartbeat_at)).toBeGreaterThanOrEqual(3_000);
    expect(await coordinator.claimInstance('a', 'run-2', 10_000)).toMatchObject({ claimed: false, holder: { heartbeat_at: renewed.heartbeat_at } });
    advance(10_001); // not renewed for a lease: its lease lapsed
    expect(await coordinator.claimInstance('a', 'run-2', 10_000)).toEqual({ claimed: true });
    expect(await coordinator.retire('a', 'run-2')).toBe(true);
    expect(await coordinator.claimInstance('a', 'run-3', 10_000)).toEqual({ claimed: true });
    expect((await coordinator.listInstances()).find((i) => i.id === 'a')).toMatchObject({ alive: true, stopped_at: null });
  });

  it('fences transitions: the instance that lost a job can no longer write it', async () => {
    await coordinator.claimInstance('a', 'run-a', 1_000);
    const job = newJob();
    await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    advance(2_000);
    await coordinator.claimJobs('b', 10);

    const stale = await storeA.recordTransition(job.id, { status: 'submitted' }, newEvent('queued', 'submitted')).catch((e: unknown) => e);
    expect(isOwnershipLost(stale)).toBe(true);
    expect(stale).toMatchObject({ details: { owner: 'b' } });
    await expect(storeB.recordTransition(job.id, { status: 'submitted' }, newEvent('queued', 'submitted'))).resolves.toEqual({ seq: 2 });
    await expect(storeA.recordTransition('nobody', {}, newEvent('queued', 'queued'))).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    expect((await storeA.listEvents(job.id)).map((event) => event.seq)).toEqual([1, 2]);
  });

  it("a run's heartbeat and retire hold only while it holds the id: never over another run's claim, never after a lapse", async () => {
    await coordinator.claimInstance('a', 'run-1', 1_000);
    const job = newJob();
    await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    advance(1_500); // run-1 stalls past its lease; another process starts under the id and claims it
    expect(await coordinator.claimInstance('a', 'run-2', 1_000)).toEqual({ claimed: true });
    const claimedAt = (await rowOf('a'))!.heartbeat_at;

    advance(100); // run-1 wakes up: its heartbeat renews nothing, its retire gives nothing away
    expect(await coordinator.heartbeat('a', 'run-1', 1_000)).toMatchObject({ standing: 'taken', holder: { id: 'a', alive: true, heartbeat_at: claimedAt } });
    expect(await coordinator.retire('a', 'run-1')).toBe(false);
    expect(await rowOf('a')).toMatchObject({ alive: true, stopped_at: null, heartbeat_at: claimedAt });
    expect((await storeA.getJob(job.id))?.owner_instance).toBe('a');
    expect(await coordinator.runStanding('a', 'run-2')).toEqual({ standing: 'held' });

    // run-2 renews; once its own lease lapsed, it does not renew it back to life (others may have taken its jobs).
    expect(await coordinator.heartbeat('a', 'run-2', 1_000)).toEqual({ standing: 'held' });
    advance(1_001);
    expect(await coordinator.heartbeat('a', 'run-2', 1_000)).toMatchObject({ standing: 'lapsed', holder: { alive: false } });
    expect((await coordinator.listInstances()).find((i) => i.id === 'a')).toMatchObject({ alive: false });
    expect((await coordinator.claimJobs('b', 10)).map((row) => row.id)).toEqual([job.id]);
  });

  it("fences transitions on the run: a run whose id another process claimed cannot write that id's jobs", async () => {
    const runOne = await home.open({ ownerInstance: 'a', runToken: 'run-1' });
    const runTwo = await home.open({ ownerInstance: 'a', runToken: 'run-2' });
    await coordinator.claimInstance('a', 'run-1', 1_000);
    const job = newJob();
    await runOne.createJob(job, newEvent(null, 'queued'), roomyQueue);
    await expect(runOne.recordTransition(job.id, { status: 'submitted' }, newEvent('queued', 'submitted'))).resolves.toEqual({ seq: 2 });
    advance(1_500);
    await coordinator.claimInstance('a', 'run-2', 1_000);

    const stale = await runOne.recordTransition(job.id, { status: 'processing' }, newEvent('submitted', 'processing')).catch((e: unknown) => e);
    expect(isOwnershipLost(stale)).toBe(true);
    expect(stale).toMatchObject({ details: { reason: 'instance_taken', owner: 'a' } });
    await expect(runTwo.recordTransition(job.id, { status: 'processing' }, newEvent('submitted', 'processing'))).resolves.toEqual({ seq: 3 });
    expect((await storeA.listEvents(job.id)).map((event) => event.seq)).toEqual([1, 2, 3]);
  });

  it("retire gives unfinished jobs back at once and frees the instance's leases", async () => {
    await coordinator.claimInstance('a', 'run-a', 60_000);
    const open = newJob();
    const done = newJob();
    await storeA.createJob(open, newEvent(null, 'queued'), roomyQueue);
    await storeA.createJob(done, newEvent(null, 'queued'), roomyQueue);
    await storeA.recordTransition(done.id, { status: 'completed' }, newEvent('queued', 'completed'));
    expect(await coordinator.holdLease('outbox-relay', 'a', 60_000)).toBe(true);
    expect(await coordinator.holdLease('outbox-relay', 'b', 60_000)).toBe(false);

    expect(await coordinator.retire('a', 'run-a')).toBe(true);
    expect((await coordinator.claimJobs('b', 10)).map((row) => row.id)).toEqual([open.id]);
    expect(await coordinator.holdLease('outbox-relay', 'b', 60_000)).toBe(true);
    const instances = await coordinator.listInstances();
    expect(instances.find((i) => i.id === 'a')).toMatchObject({ alive: false });
  });

  it('a lease passes on only after it expires; a restart with the same id may claim its own jobs', async () => {
    expect(await coordinator.holdLease('relay', 'a', 1_000)).toBe(true);
    advance(500);
    expect(await coordinator.holdLease('relay', 'b', 1_000)).toBe(false);
    expect(await coordinator.holdLease('relay', 'a', 1_000)).toBe(true);
    advance(1_001);
    expect(await coordinator.holdLease('relay', 'b', 1_000)).toBe(true);

    await coordinator.claimInstance('a', 'run-a', 60_000);
    const job = newJob();
    await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    expect(await coordinator.claimJobs('a', 10)).toEqual([]);
    expect((await coordinator.claimJobs('a', 10, { includeOwn: true })).map((row) => row.id)).toEqual([job.id]);
  });

  it("holds max_concurrent across claimers; a final job's slot counts as free", async () => {
    await coordinator.defineSlots([{ name: 'gpu', maxConcurrent: 2 }]);
    await coordinator.defineSlots([{ name: 'gpu', maxConcurrent: 2 }]); // every instance does it
    const jobs = [newJob(), newJob(), newJob(), newJob()];
    for (const job of jobs) await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);

    const claims = await Promise.all(jobs.map((job, i) => coordinator.claimSlot('gpu', job.id, i % 2 === 0 ? 'a' : 'b', 2)));
    expect(claims.filter(Boolean)).toHaveLength(2);
    expect((await coordinator.slotsInUse()).get('gpu')).toBe(2);

    const holders = jobs.filter((_, i) => claims[i]);
    const holder = holders[0]!;
    const holderInstance = jobs.indexOf(holder) % 2 === 0 ? 'a' : 'b';
    const stranger = holderInstance === 'a' ? 'b' : 'a';
    await coordinator.releaseSlot(holder.id, stranger); // not its slot to free
    expect((await coordinator.slotsInUse()).get('gpu')).toBe(2);
    await coordinator.adoptSlot(holder.id, stranger); // taken over with the job
    await coordinator.releaseSlot(holder.id, stranger);
    expect((await coordinator.slotsInUse()).get('gpu')).toBe(1);

    // The other holder finishes without releasing (a crash): its slot is free anyway.
    const other = holders[1]!;
    await storeA.recordTransition(other.id, { status: 'completed' }, newEvent('processing', 'completed'));
    expect((await coordinator.slotsInUse()).get('gpu') ?? 0).toBe(0);
    const waiting = jobs.filter((_, i) => !claims[i]);
    expect(await coordinator.claimSlot('gpu', waiting[0]!.id, 'a', 2)).toBe(true);
    expect(await coordinator.claimSlot('gpu', waiting[1]!.id, 'a', 2)).toBe(true);
    expect(await coordinator.claimSlot('gpu', holder.id, 'a', 2)).toBe(false);
  });

  it('a job claiming again gives its old slots back first: it may take its own slot, never holds two', async () => {
    await coordinator.defineSlots([
      { name: 'gpu', maxConcurrent: 2 },
      { name: 'cpu', maxConcurrent: 1 },
    ]);
    const [resubmitted, neighbour, waiting] = [newJob(), newJob(), newJob()];
    for (const job of [resubmitted, neighbour, waiting]) await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    expect(await coordinator.claimSlot('gpu', resubmitted.id, 'a', 2)).toBe(true);
    expect(await coordinator.claimSlot('gpu', neighbour.id, 'a', 2)).toBe(true);
    // gpu is full, but one of its slots is the claimer's own: it gets it again.
    expect(await coordinator.claimSlot('gpu', resubmitted.id, 'a', 2)).toBe(true);
    expect((await coordinator.slotsInUse()).get('gpu')).toBe(2);
    expect(await coordinator.claimSlot('gpu', waiting.id, 'a', 2)).toBe(false);
    // Moving to another backend frees the gpu slot for the job that waited.
    expect(await coordinator.claimSlot('cpu', resubmitted.id, 'a', 1)).toBe(true);
    expect(Object.fromEntries(await coordinator.slotsInUse())).toEqual({ gpu: 1, cpu: 1 });
    expect(await coordinator.claimSlot('gpu', waiting.id, 'a', 2)).toBe(true);
    // No free slot on cpu: the failed claim still gives the job's gpu slot back.
    expect(await coordinator.claimSlot('cpu', neighbour.id, 'a', 1)).toBe(false);
    expect(Object.fromEntries(await coordinator.slotsInUse())).toEqual({ gpu: 1, cpu: 1 });
  });

  it('claims and cancel requests on the run: a run whose id another process claimed claims no job and takes no request', async () => {
    await coordinator.claimInstance('a', 'run-1', 1_000);
    await coordinator.claimInstance('b', 'run-b', 1_000);
    const orphan = newJob();
    await storeB.createJob(orphan, newEvent(null, 'queued'), roomyQueue);
    const own = newJob();
    await storeA.createJob(own, newEvent(null, 'queued'), roomyQueue);
    expect(await coordinator.requestCancel(own.id)).toBe(true);
    advance(1_500); // b and run-1 lapsed; another process starts under id a
    expect(await coordinator.claimInstance('a', 'run-2', 1_000)).toEqual({ claimed: true });

    // run-1 wakes between its own check and these writes: nothing is claimed or taken for it.
    expect(await coordinator.claimJobs('a', 10, { runToken: 'run-1' })).toEqual([]);
    expect(await coordinator.claimJobs('a', 10, { includeOwn: true, runToken: 'run-1' })).toEqual([]);
    expect(await coordinator.takeCancelRequests('a', 'run-1')).toEqual([]);
    expect((await storeA.getJob(orphan.id))?.owner_instance).toBe('b');

    // run-2, which holds the id, claims the orphan and its own job and takes the request.
    expect((await coordinator.claimJobs('a', 10, { includeOwn: true, runToken: 'run-2' })).map((row) => row.id).sort()).toEqual([orphan.id, own.id].sort());
    expect(await coordinator.takeCancelRequests('a', 'run-2')).toEqual([own.id]);
    // Once run-2's lease lapsed too, it claims nothing more on the run's fence.
    advance(1_001);
    const later = newJob();
    await storeB.createJob(later, newEvent(null, 'queued'), roomyQueue);
    expect(await coordinator.claimJobs('a', 10, { runToken: 'run-2' })).toEqual([]);
  });

  it('passes a cancel request to the owner once', async () => {
    await coordinator.claimInstance('a', 'run-a', 60_000);
    const job = newJob();
    await storeA.createJob(job, newEvent(null, 'queued'), roomyQueue);
    expect(await coordinator.requestCancel(job.id)).toBe(true);
    expect(await coordinator.requestCancel('nobody')).toBe(false);
    expect(await coordinator.takeCancelRequests('b')).toEqual([]);
    expect(await coordinator.takeCancelRequests('a')).toEqual([job.id]);
    expect(await coordinator.takeCancelRequests('a')).toEqual([]);
  });
});
