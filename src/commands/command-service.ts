/**
 * The NATS request/reply face of chorus-visual: a nats.js micro service named
 * `chorus-visual` (so `$SRV.PING|INFO|STATS` find it) with one endpoint per command on
 * `${prefix}.cmd.<command>`. Every request is parsed and validated before the handler sees
 * it, and every request gets exactly one JSON reply in the envelope of command-replies.ts.
 * Error replies also carry the micro-service error headers, so `$SRV.STATS` counts them.
 */
import type { NatsConnection, Service, ServiceMsg } from 'nats';
import type { z } from 'zod';
import { ChorusError, ErrorCode, publicErrorFor, type ErrorCode as ErrorCodeType } from '../errors/index.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import {
  generateCommandSchema,
  getCommandSchema,
  jobIdCommandSchema,
  listCommandSchema,
  regenerateCommandSchema,
  validateCommandSchema,
  workflowsCommandSchema,
} from './command-schemas.js';
import { parseCommandPayload, replyError, replyOk, type CommandReply } from './command-replies.js';
import type { JobCommandHandler } from './job-command-handler.js';

export const SERVICE_NAME = 'chorus-visual';
export const COMMAND_NAMES = ['generate', 'regenerate', 'cancel', 'get', 'list', 'workflows', 'validate'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface CommandServiceOptions {
  /** Subject prefix, e.g. `chorus.visual` → `chorus.visual.cmd.generate`. */
  prefix: string;
  /** Instances sharing a queue group split the requests (default `chorus-visual`). */
  queueGroup?: string;
  version: string;
  instanceId?: string;
  logger?: StructuredLogger;
}

export interface CommandService {
  stop(): Promise<void>;
  service: Service;
}

interface Endpoint<S extends z.ZodType> {
  schema: S;
  run(handler: JobCommandHandler, cmd: z.output<S>): Promise<object>;
}

const endpoint = <S extends z.ZodType>(schema: S, run: Endpoint<S>['run']): Endpoint<S> => ({ schema, run });

const endpoints: Record<CommandName, Endpoint<z.ZodType>> = {
  generate: endpoint(generateCommandSchema, (h, cmd) => h.generate(cmd)),
  regenerate: endpoint(regenerateCommandSchema, (h, cmd) => h.regenerate(cmd)),
  cancel: endpoint(jobIdCommandSchema, async (h, cmd) => ({ job: await h.cancel(cmd.job_id) })),
  get: endpoint(getCommandSchema, (h, cmd) => h.get(cmd.job_id, { debug: cmd.debug })),
  list: endpoint(listCommandSchema, (h, cmd) => h.list(cmd)),
  workflows: endpoint(workflowsCommandSchema, (h) => h.workflows()),
  // The report's verdict is `valid`: `ok` is the envelope's (the command ran), and spreading
  // the report into it would answer `ok: true` for a workflow with errors.
  validate: endpoint(validateCommandSchema, async (h, cmd) => {
    const { ok, ...report } = await h.validate(cmd);
    return { ...report, valid: ok };
  }),
} as Record<CommandName, Endpoint<z.ZodType>>;

export function commandSubject(prefix: string, command: CommandName): string {
  return `${prefix}.cmd.${command}`;
}

export async function startCommandService(nc: NatsConnection, handler: JobCommandHandler, options: CommandServiceOptions): Promise<CommandService> {
  const logger = options.logger ?? silentLogger;
  const service = await nc.services.add({
    name: SERVICE_NAME,
    version: options.version,
    description: 'ComfyUI job orchestrator for Chorus Engine',
    queue: options.queueGroup ?? SERVICE_NAME,
    metadata: { prefix: options.prefix, ...(options.instanceId ? { instance: options.instanceId } : {}) },
  });
  for (const name of COMMAND_NAMES) {
    service.addEndpoint(name, {
      subject: commandSubject(options.prefix, name),
      handler: (err, msg) => {
        if (err) {
          logger.error({ err: err.message, command: name }, 'command endpoint failed');
          return;
        }
        void answer(name, msg, handler, logger);
      },
    });
  }
  logger.info({ prefix: options.prefix, commands: COMMAND_NAMES.length, queue: options.queueGroup ?? SERVICE_NAME }, 'NATS command service listening');
  return {
    service,
    async stop() {
      if (service.isStopped) return;
      try {
        await service.stop();
      } catch (error) {
        // The connection may already be closed: nothing is left to unsubscribe.
        logger.warn({ err: String(error) }, 'command service stop failed');
      }
    },
  };
}

/** Runs one command and sends its one reply; nothing escapes (it runs detached). */
export async function handleCommand(
  name: CommandName,
  payload: Uint8Array,
  handler: JobCommandHandler,
  logger: StructuredLogger = silentLogger,
): Promise<CommandReply> {
  const spec = endpoints[name];
  try {
    const cmd = parseCommandPayload(spec.schema, payload, name);
    return replyOk(await spec.run(handler, cmd));
  } catch (error) {
    // Not ours: a bug. The caller gets a stable code, no internals and a correlation id; the log gets the truth.
    const { error: reply, correlationId } = publicErrorFor(error, name);
    if (correlationId !== undefined)
      logger.error({ err: error instanceof Error ? error.stack : String(error), command: name, correlation_id: correlationId }, 'command failed unexpectedly');
    return replyError(reply);
  }
}

async function answer(name: CommandName, msg: ServiceMsg, handler: JobCommandHandler, logger: StructuredLogger): Promise<void> {
  const reply = await handleCommand(name, msg.data, handler, logger);
  if (!msg.reply) {
    logger.warn({ command: name, ok: reply.ok }, 'command without a reply subject: nobody hears the answer');
    return;
  }
  let body: Uint8Array;
  try {
    body = encoder.encode(JSON.stringify(reply));
  } catch (error) {
    logger.error({ err: String(error), command: name }, 'command reply is not serialisable');
    body = encoder.encode(JSON.stringify(replyError(new ChorusError(ErrorCode.INTERNAL, `${name} produced an unserialisable reply`))));
  }
  try {
    if (reply.ok) msg.respond(body);
    else msg.respondError(statusFor(reply.error.code), reply.error.message.slice(0, 200), body);
  } catch (error) {
    logger.warn({ err: String(error), command: name }, 'could not send command reply');
  }
}

const encoder = new TextEncoder();

/** An HTTP-like status for the micro-service error header (the body has our code). */
export function statusFor(code: ErrorCodeType): number {
  switch (code) {
    case 'INVALID_COMMAND':
    case 'WORKFLOW_INVALID':
      return 400;
    case 'JOB_NOT_FOUND':
    case 'WORKFLOW_NOT_FOUND':
    case 'CHARACTER_NOT_FOUND':
      return 404;
    case 'QUEUE_FULL':
    case 'COMFY_UNAVAILABLE':
    case 'STORAGE_UNAVAILABLE':
    case 'EVENTS_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE':
    case 'INSTANCE_LEASE_LOST':
      return 503;
    case 'OWNERSHIP_LOST':
    case 'REQUEST_ID_CONFLICT':
      return 409;
    case 'UNAUTHORIZED':
      return 401;
    case 'INTERNAL':
      return 500;
    default:
      return 422;
  }
}
