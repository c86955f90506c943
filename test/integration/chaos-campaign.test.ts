/**
 * A short, bounded run of the fault campaign (`npm run chaos` is the long one): the real
 * service process, SIGKILLed and restarted on its database, a second `serve` started on the
 * same database at random moments (it must be refused), the simulator restarted and its
 * sockets dropped, the private nats-server restarted, the data disk filled (a tmpfs: a
 * machine that cannot mount one fails the run loudly) — while jobs are submitted. Nothing
 * accepted may be lost, run twice, half-delivered or announced out of order.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DataDiskFiller } from '../../bench/chaos/disk-filler.js';
import { runCampaign } from '../../bench/chaos/chaos-campaign.js';
import { formatReport } from '../../bench/chaos/campaign-report.js';

describe('fault campaign (short)', () => {
  it('loses, repeats and reorders nothing under every fault kind', { timeout: 120_000 }, async () => {
    const report = await runCampaign({
      seconds: 18,
      seed: 424242,
      submitIntervalMs: 150,
      settleSeconds: 20,
      tmpfsMb: 16,
      executionDelayMs: 80,
      timing: { gapMs: [150, 600], serviceDownMs: [0, 300], natsDownMs: [100, 800], diskFullMs: [400, 1_200], minServiceUpMs: 4_000 },
    });
    const printed = formatReport(report);

    expect(report.settled, printed).toBe(true);
    expect(report.verdict.violations, printed).toEqual({
      acceptedNotFinal: 0,
      duplicateExecutions: 0,
      unattributedExecutions: 0,
      badCompletedJobs: 0,
      strayFilesOfCompletedJobs: 0,
      lostOutputsOfFailedJobs: 0,
      streamDelivery: 0,
      liveDelivery: 0,
      secondDriverStarted: 0,
    });
    // The run proved something only if faults happened and jobs went through them. A kill is
    // drawn only after 4 s of uptime, so jobs get through even when a restart is slow.
    expect(report.injected.serviceKill, printed).toBeGreaterThanOrEqual(1);
    expect(report.injected.simulatorRestart, printed).toBeGreaterThanOrEqual(1);
    expect(report.injected.socketDrop, printed).toBeGreaterThanOrEqual(1);
    expect(report.injected.natsRestart, printed).toBeGreaterThanOrEqual(1);
    expect(report.injected.secondServe, printed).toBeGreaterThanOrEqual(1);
    expect(report.diskFull.method, printed).toBe('tmpfs');
    expect(report.injected.diskFull, printed).toBeGreaterThanOrEqual(1);
    // Bounds low enough for a loaded machine, where a restart can take 10 s.
    expect(report.verdict.jobs.byState['completed'] ?? 0, printed).toBeGreaterThanOrEqual(5);
    expect(report.verdict.delivery.stream.expected, printed).toBeGreaterThan(30);
  });
});

describe('the disk-full check', () => {
  it('fails loudly, naming the way out, where no tmpfs can be mounted', async () => {
    // A folder that does not exist cannot take a mount, as root or not.
    const missing = join(tmpdir(), `cv-no-such-dir-${process.pid}`, 'data');
    await expect(DataDiskFiller.mount(missing, 1)).rejects.toThrow(/the disk-full check cannot run: .*--no-disk-full/);
  });

  it('fills a real tmpfs to ENOSPC and frees it again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cv-disk-'));
    const disk = await DataDiskFiller.mount(dir, 1);
    try {
      expect(disk.method).toBe('tmpfs');
      const written = await disk.fill();
      expect(written).toBeGreaterThan(512 * 1024);
      const { stdout } = await promisify(execFile)('df', ['--output=avail', '-B1', dir]);
      expect(Number(stdout.split('\n')[1])).toBeLessThan(4096);
      await disk.release();
    } finally {
      await disk.unmount();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
