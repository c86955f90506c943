/**
 * The closed list of error codes a caller may switch on. They cross SQLite, NATS and HTTP
 * as plain strings, so they are stable: add new ones, never rename.
 */
export const ErrorCode = {
  COMFY_UNAVAILABLE: 'COMFY_UNAVAILABLE',
  COMFY_LOST: 'COMFY_LOST',
  WORKFLOW_NOT_FOUND: 'WORKFLOW_NOT_FOUND',
  WORKFLOW_INVALID: 'WORKFLOW_INVALID',
  WORKFLOW_NODE_ERROR: 'WORKFLOW_NODE_ERROR',
  EXECUTION_ERROR: 'EXECUTION_ERROR',
  GENERATION_TIMEOUT: 'GENERATION_TIMEOUT',
  QUEUE_WAIT_TIMEOUT: 'QUEUE_WAIT_TIMEOUT',
  NO_OUTPUT: 'NO_OUTPUT',
  OUTPUT_FILE_NOT_FOUND: 'OUTPUT_FILE_NOT_FOUND',
  FILE_MOVE_FAILED: 'FILE_MOVE_FAILED',
  QUEUE_FULL: 'QUEUE_FULL',
  PROMPT_GENERATION_FAILED: 'PROMPT_GENERATION_FAILED',
  INVALID_COMMAND: 'INVALID_COMMAND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  CONFIG_INVALID: 'CONFIG_INVALID',
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  STORE_LOCKED: 'STORE_LOCKED',
  CHARACTER_NOT_FOUND: 'CHARACTER_NOT_FOUND',
  OWNERSHIP_LOST: 'OWNERSHIP_LOST',
  EVENTS_UNAVAILABLE: 'EVENTS_UNAVAILABLE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  REQUEST_ID_CONFLICT: 'REQUEST_ID_CONFLICT',
  INSTANCE_LEASE_LOST: 'INSTANCE_LEASE_LOST',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What a caller can do about each code, and whether trying again may help. */
export const errorCatalogue: Record<ErrorCode, { recoverable: boolean; suggestion: string }> = {
  COMFY_UNAVAILABLE: {
    recoverable: true,
    suggestion: 'Check that ComfyUI is running and that comfyui.url (or backends[].url) points at it.',
  },
  COMFY_LOST: {
    recoverable: true,
    suggestion: 'ComfyUI restarted and forgot the prompt; submit the job again.',
  },
  WORKFLOW_NOT_FOUND: {
    recoverable: false,
    suggestion: 'Use one of the workflows listed by `chorus-visual workflows list`, or add the JSON file to workflows/.',
  },
  WORKFLOW_INVALID: {
    recoverable: false,
    suggestion: 'Run `chorus-visual workflows validate <name>` and fix the reported nodes.',
  },
  WORKFLOW_NODE_ERROR: {
    recoverable: false,
    suggestion: 'Check that all models and LoRAs exist in ComfyUI.',
  },
  EXECUTION_ERROR: {
    recoverable: true,
    suggestion: "Read the node's exception in details; the ComfyUI console has the full traceback.",
  },
  GENERATION_TIMEOUT: {
    recoverable: true,
    suggestion: 'Try reducing steps or using a faster model, or raise comfyui.timeout_seconds.',
  },
  QUEUE_WAIT_TIMEOUT: {
    recoverable: true,
    suggestion: 'The job waited too long for a free ComfyUI slot; add backends or raise comfyui.queue_wait_timeout_seconds.',
  },
  NO_OUTPUT: {
    recoverable: true,
    suggestion: 'Make sure the workflow ends in a SaveImage (or another save node) that is connected.',
  },
  OUTPUT_FILE_NOT_FOUND: {
    recoverable: true,
    suggestion: 'Check comfyui.file_management.output_directory, or use mode "download" if ComfyUI runs on another machine.',
  },
  FILE_MOVE_FAILED: {
    recoverable: true,
    suggestion: 'Check free space and permissions of the data folder; the ComfyUI output was left in place.',
  },
  QUEUE_FULL: {
    recoverable: true,
    suggestion: 'Wait for running jobs to finish, or raise comfyui.queue.max_queue_size.',
  },
  PROMPT_GENERATION_FAILED: {
    recoverable: true,
    suggestion: 'Check the LLM endpoint (llm.base_url), or send a finished prompt instead.',
  },
  INVALID_COMMAND: {
    recoverable: false,
    suggestion: 'Fix the fields named in details and send the command again.',
  },
  UNAUTHORIZED: {
    recoverable: false,
    suggestion: 'Send the service\'s http.token as "Authorization: Bearer <token>" (or ?token=<token> where a browser cannot set a header).',
  },
  JOB_NOT_FOUND: {
    recoverable: false,
    suggestion: 'Check the job id: `chorus-visual jobs list`, GET /api/jobs or the list command shows the known jobs.',
  },
  CONFIG_INVALID: {
    recoverable: false,
    suggestion: 'Fix the named key in the config file or environment variable.',
  },
  STORAGE_UNAVAILABLE: {
    recoverable: true,
    suggestion: 'The job database cannot be written (disk full, read-only or unreachable); free space or fix database.url, then retry.',
  },
  STORE_LOCKED: {
    recoverable: true,
    suggestion:
      'Another process drives this job database (details.holder says which and how to reach it): send commands to it, stop it first, or give this one its own database.url. On PostgreSQL, another running instance uses this --instance-id (details.instance_id): give each instance its own, or stop the other first.',
  },
  CHARACTER_NOT_FOUND: {
    recoverable: false,
    suggestion: 'Use a character defined in config/characters/*.yaml.',
  },
  OWNERSHIP_LOST: {
    recoverable: true,
    suggestion: 'Another chorus-visual instance drives this job now; ask any instance for it (its owner field names the one).',
  },
  EVENTS_UNAVAILABLE: {
    recoverable: true,
    suggestion: 'NATS cannot be reached or refused the event; check nats.servers and nats-server. Events wait in the outbox meanwhile.',
  },
  SERVICE_UNAVAILABLE: {
    recoverable: true,
    suggestion:
      'No chorus-visual service answered (none runs, or it stopped): start `chorus-visual serve`. Jobs it already accepted are stored and continue when it runs; `chorus-visual jobs watch <id>` follows one.',
  },
  REQUEST_ID_CONFLICT: {
    recoverable: false,
    suggestion: 'This request_id was already used in this conversation for a different request (details.job_id); use a new request_id per request.',
  },
  INSTANCE_LEASE_LOST: {
    recoverable: true,
    suggestion:
      'This serve (several instances on PostgreSQL) stalled — paused, swapped out, a long garbage collection — or could not reach the database for longer than its lease (--lease-ttl), so another process may drive its jobs now (details.reason: "taken" when another process claimed its --instance-id): it stopped driving jobs and exited. Restart it (a supervisor does); send a refused command again (another instance answers). If stalls that long are expected, raise --lease-ttl on every instance.',
  },
  INTERNAL: {
    recoverable: false,
    suggestion: 'This is a bug in chorus-visual; the log has the details.',
  },
};
