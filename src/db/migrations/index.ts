/**
 * Every migration, by name, in order. An in-code record rather than a folder scan, so it
 * works the same from tsx (`.ts` files) and from compiled JavaScript (`.js` files), and a
 * bundler sees every import. Add a new migration here with its file; never edit old ones.
 */
import * as createJobs from './2026_11_25_120000_create_jobs.js';
import * as createJobEvents from './2026_11_25_120100_create_job_events.js';
import * as addInstanceCoordination from './2026_11_26_090000_add_instance_coordination.js';
import * as addRegeneratedFrom from './2026_11_29_080000_add_regenerated_from.js';
import * as requestIdPerConversation from './2026_11_29_090000_request_id_per_conversation.js';
import * as addComfyGraph from './2026_11_29_120000_add_comfy_graph.js';
import * as addInstanceRunToken from './2026_11_30_090000_add_instance_run_token.js';

export const migrationModules = {
  '2026_11_25_120000_create_jobs': createJobs,
  '2026_11_25_120100_create_job_events': createJobEvents,
  '2026_11_26_090000_add_instance_coordination': addInstanceCoordination,
  '2026_11_29_080000_add_regenerated_from': addRegeneratedFrom,
  '2026_11_29_090000_request_id_per_conversation': requestIdPerConversation,
  '2026_11_29_120000_add_comfy_graph': addComfyGraph,
  '2026_11_30_090000_add_instance_run_token': addInstanceRunToken,
} as const;
