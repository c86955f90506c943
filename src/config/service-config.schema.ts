import { z } from 'zod';

/**
 * The service config (`config/chorus-visual.yaml`). The `comfyui:` block keeps the original
 * design's keys so existing Chorus Engine configs load unchanged; `backends`, `data_dir`,
 * `database`, `nats`, `llm` and `http` extend it.
 */

const seconds = z.number().positive();
/** A credential: an empty one is a mistake (an unset variable in a template), never "no credential". */
const secret = z.string().min(1, 'must not be empty; leave the key unset instead');

/**
 * Handing the GPU over between the chat LLM and ComfyUI around each job (docs/gpu-sharing.md).
 * Absent: off. Present: before a prompt is sent the LLM is asked to unload (`llm`), and after a
 * job ComfyUI is asked to `POST /free` (`free_comfyui`).
 */
export const gpuHandoffSchema = z
  .strictObject({
    /** How to free the LLM's memory before this backend runs a prompt. */
    llm: z.enum(['ollama', 'http', 'none']),
    ollama: z
      .strictObject({
        /** Ollama's own API root; default: `llm.base_url` without its `/v1`, else http://127.0.0.1:11434. */
        url: z.url({ protocol: /^https?$/ }).optional(),
        /** `configured`: `models`, else `llm.model`; `loaded`: every model `GET /api/ps` lists. */
        unload: z.enum(['configured', 'loaded']).default('configured'),
        models: z.array(z.string().min(1)).optional(),
      })
      .prefault({}),
    /** llama-swap (`POST /unload`), LM Studio, or anything reachable by one HTTP call. */
    http: z
      .strictObject({
        method: z.enum(['GET', 'POST', 'PUT', 'DELETE']).default('POST'),
        url: z.url({ protocol: /^https?$/ }),
        body: z.unknown().optional(),
        headers: z.record(z.string(), z.string()).default({}),
      })
      .optional(),
    /** When to `POST /free` on ComfyUI: after every job, once its queue has drained, or never. */
    free_comfyui: z.enum(['after_each', 'when_idle', 'never']).default('when_idle'),
    /** An unload call slower than this is abandoned (a warning; the job goes on). */
    timeout_ms: z.number().int().positive().default(10_000),
  })
  .refine((h) => h.llm !== 'http' || h.http !== undefined, { message: 'llm: http needs an http: {url, method, body} block', path: ['http'] });
export type GpuHandoffConfig = z.infer<typeof gpuHandoffSchema>;

export const backendSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "-" and "." only'),
  url: z.url({ protocol: /^https?$/ }),
  /** Prompts we keep inside this ComfyUI at once (running + waiting in its queue). */
  max_concurrent: z.number().int().min(1).max(64).default(2),
  /** Where this ComfyUI writes its outputs, when it is on this machine (move/copy modes). */
  output_directory: z.string().optional(),
  request_timeout_ms: z.number().int().positive().default(10_000),
  heartbeat_interval_ms: z.number().int().positive().default(5_000),
  heartbeat_timeout_ms: z.number().int().positive().default(10_000),
  gpu_handoff: gpuHandoffSchema.optional(),
});
export type BackendConfig = z.infer<typeof backendSchema>;

export const serviceConfigSchema = z.strictObject({
  comfyui: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8188'),
      /** Generation timeout, counted from ComfyUI's execution start. */
      timeout_seconds: seconds.default(300),
      /** When set, `timeout_seconds` only marks the job overdue; this one fails it. */
      hard_timeout_seconds: seconds.optional(),
      /** How long a job may wait for a slot (our queue plus ComfyUI's) before it fails. */
      queue_wait_timeout_seconds: seconds.default(3600),
      connection_retry_attempts: z.number().int().min(1).max(20).default(3),
      connection_retry_backoff: z.number().min(1).max(60).default(2.0),
      /** How many times a prompt lost by a ComfyUI restart is submitted again. */
      max_resubmits: z.number().int().min(0).max(10).default(2),
      /**
       * Model affinity: a free slot prefers a waiting job whose models the backend has loaded,
       * passing over another job at most this many times (0: strict arrival order)…
       */
      affinity_max_skip: z.number().int().min(0).max(100).default(3),
      /** …and never more than this long after that job's turn first came. */
      affinity_max_wait_seconds: seconds.default(60),
      /** GPU handoff for the single-server form (`url`); with `backends`, set it per backend. */
      gpu_handoff: gpuHandoffSchema.optional(),
      polling: z
        .strictObject({
          initial_interval_seconds: seconds.default(2.0),
          max_interval_seconds: seconds.default(10.0),
        })
        .prefault({}),
      queue: z
        .strictObject({
          max_concurrent_jobs: z.number().int().min(1).max(64).default(2),
          max_queue_size: z.number().int().min(1).max(1_000_000).default(10),
        })
        .prefault({}),
      file_management: z
        .strictObject({
          output_directory: z.string().default('ComfyUI/output'),
          move_files: z.boolean().default(true),
          cleanup_comfy_outputs: z.boolean().default(true),
          /**
           * auto (default): per file, move (copy when move_files is false) when ComfyUI's file is
           * under output_directory on this machine, else fetch it through /view. move, copy and
           * download force one way.
           */
          mode: z.enum(['auto', 'move', 'copy', 'download']).default('auto'),
          /** Largest file fetched through /view; counted while streaming, the rest is never written. */
          max_output_bytes: z
            .number()
            .int()
            .positive()
            .default(2 * 1024 ** 3),
        })
        .prefault({}),
      defaults: z
        .strictObject({
          steps: z.number().int().positive().default(30),
          cfg: z.number().positive().default(4.5),
          width: z.number().int().positive().default(1024),
          height: z.number().int().positive().default(1024),
        })
        .prefault({}),
      backends: z.array(backendSchema).default([]),
    })
    .prefault({}),
  data_dir: z.string().default('data'),
  /** A smaller copy beside every image output, listed in the job result as `thumbnail`. */
  thumbnails: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Longest side in pixels; smaller images are not enlarged. */
      max_size: z.number().int().min(16).max(4096).default(256),
      format: z.enum(['webp', 'jpeg', 'png']).default('webp'),
      /** Encoder quality for webp and jpeg. */
      quality: z.number().int().min(1).max(100).default(80),
    })
    .prefault({}),
  /** Bounds on what a caller or a workflow file may ask for, checked before anything is stored. */
  limits: z
    .strictObject({
      max_width: z.number().int().min(16).max(16384).default(4096),
      max_height: z.number().int().min(16).max(16384).default(4096),
      max_steps: z.number().int().min(1).max(500).default(150),
      /** A workflow file larger than this is not loaded. */
      max_workflow_bytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024 ** 2),
      /** A workflow with more nodes than this is not loaded. */
      max_workflow_nodes: z.number().int().positive().default(10_000),
    })
    .prefault({}),
  workflows_dir: z.string().default('workflows'),
  characters_dir: z.string().default('config/characters'),
  database: z
    .strictObject({
      /** `sqlite:<path>` (in a config file, relative to its folder; from a variable or flag, to the working directory) or `postgres://…`; unset: `sqlite:{data_dir}/chorus-visual.db`. */
      url: z.string().default('sqlite:data/chorus-visual.db'),
    })
    .prefault({}),
  nats: z
    .strictObject({
      enabled: z.boolean().default(true),
      servers: z.array(z.string()).default(['nats://127.0.0.1:4222']),
      name: z.string().default('chorus-visual'),
      user: z.string().optional(),
      pass: secret.optional(),
      token: secret.optional(),
      creds_file: z.string().optional(),
      nkey_file: z.string().optional(),
      tls: z.strictObject({ ca_file: z.string().optional(), cert_file: z.string().optional(), key_file: z.string().optional() }).optional(),
      subject_prefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
        .default('chorus.visual'),
      stream: z
        .strictObject({
          name: z
            .string()
            .regex(/^[A-Za-z0-9_-]+$/)
            .default('CHORUS_VISUAL_EVENTS'),
          max_age_seconds: z
            .number()
            .int()
            .positive()
            .default(7 * 24 * 3600),
          max_msgs: z.number().int().positive().default(1_000_000),
          duplicate_window_seconds: z.number().int().positive().default(3600),
        })
        .prefault({}),
      /** Progress events per second per job, at most. */
      progress_per_second: z.number().positive().default(4),
    })
    .prefault({}),
  llm: z
    .strictObject({
      /** OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama). Unset: template prompts. */
      base_url: z.url({ protocol: /^https?$/ }).optional(),
      model: z.string().default('llama3.1'),
      api_key: secret.optional(),
      timeout_ms: z.number().int().positive().default(30_000),
      retries: z.number().int().min(0).max(5).default(1),
      temperature: z.number().min(0).max(2).default(0.7),
      max_tokens: z.number().int().positive().default(300),
      max_prompt_chars: z.number().int().positive().default(1200),
    })
    .prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8787),
      /** Unset: no authentication. Empty is refused: it would quietly mean the same. */
      token: secret.optional(),
      /** Origins besides the server's own allowed to send requests, e.g. a reverse proxy's `https://visual.example.com`. */
      allowed_origins: z.array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'an origin: scheme://host[:port], no path')).default([]),
      /** Host names besides loopback and the bound address this server answers to (DNS-rebinding defence). */
      allowed_hosts: z.array(z.string().regex(/^[A-Za-z0-9.[\]:-]+$/, 'a host name or address, optionally with :port')).default([]),
      /** Needed to start without a token on an address other than loopback. */
      allow_unauthenticated: z.boolean().default(false),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** SIGTERM/SIGINT: how long a clean stop may take before the process exits anyway. */
      grace_seconds: seconds.max(600).default(10),
    })
    .prefault({}),
  instance_id: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional(),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type ServiceConfigInput = z.input<typeof serviceConfigSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
