/**
 * `jobs show` for a person: state, what ran, the timing breakdown (whose parts add up to the
 * total), the files and the error with its suggestion. `--json` prints the document instead.
 */
import type { JobView } from '../contracts/index.js';

/** Always whole milliseconds, so the parts visibly add up to the total. */
function ms(value: number | null): string {
  return value === null ? '—' : `${value} ms`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * "queue 12 ms + ComfyUI queue 3 ms + generation 800 ms + file move 40 ms = total 855 ms";
 * runs ComfyUI forgot and an outage of the service are named, in their place, only when
 * they took time, so the ordinary line stays as it was.
 */
export function timingLine(t: JobView['timings']): string {
  const parts: Array<[string, number | null]> = [
    ['queue', t.queue_wait_ms],
    ...(t.lost_ms ? [['lost to forgotten runs', t.lost_ms] as [string, number]] : []),
    ['ComfyUI queue', t.comfy_queue_wait_ms],
    ['generation', t.generation_ms],
    ...(t.service_down_ms ? [['service down', t.service_down_ms] as [string, number]] : []),
    ['file move', t.file_move_ms],
  ];
  return `${parts.map(([name, value]) => `${name} ${ms(value)}`).join(' + ')} = total ${ms(t.total_ms)}`;
}

export function formatJobSummary(job: JobView, transitions: number): string {
  const rows: Array<[string, string]> = [
    ['state', job.substate && job.substate !== job.state ? `${job.state} (${job.substate})` : job.state],
    ['character', job.character ?? '—'],
    ['workflow', job.workflow],
    ['conversation', job.conversation_id],
    ['prompt', job.prompt === null ? '—' : `${JSON.stringify(job.prompt)}${job.prompt_source ? ` (${job.prompt_source})` : ''}`],
    ['seed', job.seed === null ? '—' : String(job.seed)],
    ['backend', job.backend === null ? '—' : `${job.backend}${job.comfy_prompt_id ? ` (prompt ${job.comfy_prompt_id})` : ''}`],
    ['created', job.created_at],
    ['timings', timingLine(job.timings)],
  ];
  if (job.progress && job.state === 'processing') rows.push(['progress', `${job.progress.value}/${job.progress.max}`]);
  for (const file of job.result?.files ?? []) {
    const dims = file.width !== undefined ? `, ${file.width}×${file.height}` : '';
    rows.push([file.kind, `${file.absolutePath} (${size(file.bytes)}${dims}${file.via ? `, ${file.via}` : ''})`]);
  }
  if (job.result) rows.push(['metadata', job.result.metadataPath]);
  if (job.error) {
    rows.push(['error', `${job.error.code}: ${job.error.message}`]);
    if (job.error.suggestion) rows.push(['suggestion', job.error.suggestion]);
  }
  rows.push(['transitions', String(transitions)]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return `job ${job.id}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`).join('\n')}\n`;
}
