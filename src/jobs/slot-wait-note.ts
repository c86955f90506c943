/**
 * The note a job waiting for a slot carries while no backend can take it because none is
 * reachable: COMFY_UNAVAILABLE naming each backend, its URL and why. Not a failure — the
 * job keeps waiting (up to its queue wait timeout) and goes on when a backend is back.
 */
import { outageCauseOf } from '../comfy/backend-outage-log.js';
import type { ComfyBackend } from '../comfy/backend-port.js';
import type { ErrorData } from '../contracts/error-data.js';
import type { JobView } from '../contracts/job-view.js';
import { ChorusError, ErrorCode } from '../errors/index.js';

/** null: some backend is healthy (the job only waits for capacity), or there are none to name. */
export function slotWaitNoteOf(backends: readonly ComfyBackend[]): ErrorData | null {
  if (backends.length === 0) return null;
  const healths = backends.map((backend) => backend.health());
  if (healths.some((health) => health.healthy)) return null;
  const down = healths.map((health) => ({ backend: health.name, url: health.url, cause: outageCauseOf(health) }));
  const named = down.map((d) => `${d.backend} at ${d.url}: ${d.cause}`).join('; ');
  return new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `no ComfyUI backend reachable (${named}); the job waits for one`, {
    details: { backends: down },
  }).toJSON();
}

/** The view with its `note` when it waits for a slot and no backend is reachable. */
export function withSlotWaitNote(view: JobView, backends: () => readonly ComfyBackend[]): JobView {
  if (view.state !== 'queued' || view.substate !== 'queued.waiting') return view;
  const note = slotWaitNoteOf(backends());
  return note === null ? view : { ...view, note };
}
