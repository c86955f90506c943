/** The campaign's printed report: counts first, then every violation with examples. */
import type { CampaignReport } from './chaos-campaign.js';
import type { DeliveryResult } from './delivery-check.js';

function deliveryLines(d: DeliveryResult): string[] {
  return [
    `  ${d.subscriber}: expected ${d.expected}, received ${d.received}, exactly once ${d.exactlyOnce}`,
    `    duplicated ${d.duplicated} (+${d.extraCopies} copies), missing ${d.missing}, unknown ${d.unknown}, jobs out of order ${d.outOfOrderJobs}, jobs with gaps ${d.gappedJobs}`,
    ...(d.missing > 0 ? [`    missing e.g. ${d.examples.missing.join(', ')}`] : []),
    ...(d.missedWhileOffline > 0
      ? [`    stored while this subscriber was disconnected (core NATS cannot deliver them; they are in the stream): ${d.missedWhileOffline}`]
      : []),
    ...(d.duplicated > 0 ? [`    duplicated e.g. ${d.examples.duplicated.join(', ')}`] : []),
    ...(d.outOfOrderJobs > 0 ? [`    out of order e.g. ${d.examples.outOfOrder.join(', ')}`] : []),
  ];
}

export function formatReport(r: CampaignReport): string {
  const v = r.verdict;
  const s = r.submissions;
  const lines = [
    `chaos campaign, seed ${r.seed}: faults for ${r.faultWindowSeconds.toFixed(1)} s, settled ${r.settled ? 'yes' : 'NO'} in ${r.settleSeconds.toFixed(1)} s, total ${r.totalSeconds.toFixed(1)} s`,
    `disk full via: ${r.diskFull.method}${r.diskFull.note ? ` (${r.diskFull.note})` : ''}; database ${r.diskFull.databaseOnDataDisk ? 'ON the full disk' : 'on another disk'}`,
    `injected: ${Object.entries(r.injected)
      .map(([k, n]) => `${k} ${n}`)
      .join(
        ', ',
      )}; NATS restarts by SIGKILL ${r.natsRestartsBySigkill}; service starts ${r.serviceStarts} (spawn to listening: median ${r.serviceStartMs.median} ms, max ${r.serviceStartMs.max} ms)`,
    `second serve on the same database: ${r.injected.secondServe} started, ${r.injected.secondServe - r.rivalsNotRefused.length} refused with STORE_LOCKED${r.rivalsNotRefused.length > 0 ? `; NOT refused: ${r.rivalsNotRefused.slice(0, 3).join(' | ')}` : ''}`,
    ...(r.injectorErrors.length > 0 ? [`injector errors (${r.injectorErrors.length}): ${r.injectorErrors.slice(0, 3).join(' | ')}`] : []),
    `submissions: sent ${s.attempted} (not sent while the service was down: ${s.skippedWhileDown}), accepted ${s.accepted} (answered on retry ${s.acceptedOnRetry}), unanswered ${s.unanswered}, still in doubt ${s.stillInDoubt}, refused ${JSON.stringify(s.refused)}`,
    `jobs: ${JSON.stringify(v.jobs.byState)}; failed by code ${JSON.stringify(v.jobs.failedByCode)}`,
    `  accepted not final ${v.jobs.notFinal}, missing from the database ${v.jobs.missingFromDatabase}, stored but never accepted ${v.jobs.storedButNotAccepted}${v.jobs.examples.length ? ` e.g. ${v.jobs.examples.join(', ')}` : ''}`,
    `executions: ${v.executions.totalExecutions} over ${v.executions.epochs} simulator epochs; jobs run twice in one epoch ${v.executions.duplicateJobs}; re-run after a simulator restart ${v.executions.rerunAfterRestart}; unattributed ${v.executions.unattributedExecutions}`,
    ...(v.executions.duplicateJobs > 0 ? [`  duplicates e.g. ${v.executions.examples.duplicates.join(', ')}`] : []),
    ...(v.executions.unattributedExecutions > 0 ? [`  unattributed prompt ids e.g. ${v.executions.examples.unattributed.join(', ')}`] : []),
    `files: ${v.files.completedJobs} completed jobs, ${v.files.filesVerified} files verified by sha256; bad jobs ${v.files.badJobs}; leftovers ${JSON.stringify(v.files.leftovers)}`,
    ...v.files.examples.bad.map((b) => `  bad: ${b}`),
    ...v.files.examples.leftovers.map((b) => `  leftover: ${b}`),
    `FILE_MOVE_FAILED outputs: ${v.failedOutputs.fileMoveFailed} jobs; ComfyUI file kept ${v.failedOutputs.keptInComfy}; only copy in the conversation folder ${v.failedOutputs.onlyInDataFolder}; lost ${v.failedOutputs.lost}`,
    ...(v.failedOutputs.onlyInDataFolder > 0 ? [`  only in the data folder e.g. ${v.failedOutputs.examples.onlyInDataFolder.join(', ')}`] : []),
    ...(v.failedOutputs.lost > 0 ? [`  lost e.g. ${v.failedOutputs.examples.lost.join(', ')}`] : []),
    'NATS delivery:',
    ...deliveryLines(v.delivery.stream),
    ...deliveryLines(v.delivery.live),
    `  live subscriber: ${r.live.progressTicks} progress ticks (ephemeral, not checked), ${r.live.disconnects} disconnects`,
    `service error-level log lines: ${r.serviceErrorLines.count}${r.serviceErrorLines.count > 0 ? ` ${JSON.stringify(r.serviceErrorLines.byMessage)}` : ''}`,
    `violations: ${JSON.stringify(v.violations)}`,
    v.totalViolations === 0 ? 'RESULT: PASS (no violations)' : `RESULT: FAIL (${v.totalViolations} violations)`,
  ];
  return lines.join('\n');
}
