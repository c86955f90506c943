/**
 * /api/jobs, /api/workflows, /api/backends: the NATS commands over HTTP, validated with the
 * very same schemas so a command means the same thing whichever door it came through.
 */
import type { z } from 'zod';
import {
  generateCommandSchema,
  getCommandSchema,
  jobIdCommandSchema,
  listCommandSchema,
  regenerateCommandSchema,
  validateCommandSchema,
} from '../commands/command-schemas.js';
import { describeIssues, invalidCommand, jsonObjectOrRefuse } from '../commands/command-replies.js';
import { sendOk } from './http-error-envelope.js';
import type { HealthSources, JobCommandHandler } from './ports.js';
import { readJsonBody } from './request-body-reader.js';
import type { RouteContext, RouteTable } from './route-table.js';

export function parseCommand<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  // The same details as a NATS reply: a list of { path, message }.
  throw invalidCommand('the request does not match the command schema', describeIssues(parsed.error.issues));
}

/**
 * A command's fields from a request body plus the one the path names (`job_id`, `workflow`):
 * the body must be a JSON object, and a body that names another job or workflow than the
 * path is refused rather than overridden (a client sending both meant one of them).
 */
function bodyWithPathField(body: unknown, field: string, fromPath: string | undefined): Record<string, unknown> {
  const fields = jsonObjectOrRefuse(body, 'the request body');
  if (field in fields && fields[field] !== fromPath) {
    throw invalidCommand(`${field} comes from the path (${String(fromPath)}); the body names another`, [
      { path: field, message: `the path says ${JSON.stringify(fromPath)}; leave ${field} out of the body` },
    ]);
  }
  return { ...fields, [field]: fromPath };
}

/** Query strings are all text; turn the numeric/boolean/list ones into what the schema expects. */
function listInputFromQuery(url: URL): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    if (key === 'token') continue;
    const values = url.searchParams.getAll(key);
    const name = key === 'conversation' ? 'conversation_id' : key;
    if (name === 'state') {
      const states = values.flatMap((v) => v.split(',')).filter(Boolean);
      // `?state=` with nothing in it filters nothing (a form left empty), as if it were absent.
      if (states.length > 0) input[name] = states.length === 1 ? states[0] : states;
    } else if (name === 'limit' || name === 'offset') {
      input[name] = /^\d+$/.test(values[0] ?? '') ? Number(values[0]) : values[0];
    } else {
      input[name] = values.length === 1 ? values[0] : values;
    }
  }
  return input;
}

function debugFlag(url: URL): boolean {
  const raw = url.searchParams.get('debug');
  // The page always wants the debug facts; `?debug=false` turns them off.
  return raw === null ? true : !['0', 'false', 'no'].includes(raw.toLowerCase());
}

export function addJobApiRoutes(routes: RouteTable, handler: JobCommandHandler, health: HealthSources): void {
  routes.add('GET', '/api/jobs', async ({ res, url }: RouteContext) => {
    const cmd = parseCommand(listCommandSchema, listInputFromQuery(url));
    const { jobs, total, counts } = await handler.list(cmd);
    sendOk(res, { jobs, total, limit: cmd.limit, offset: cmd.offset, ...(counts === undefined ? {} : { counts }) });
  });

  routes.add('POST', '/api/jobs', async ({ req, res }: RouteContext) => {
    const cmd = parseCommand(generateCommandSchema, await readJsonBody(req));
    const { job, created } = await handler.generate(cmd);
    sendOk(res, { job, created }, created ? 201 : 200);
  });

  routes.add('GET', '/api/jobs/:id', async ({ res, url, params }: RouteContext) => {
    const cmd = parseCommand(getCommandSchema, { job_id: params['id'], debug: debugFlag(url) });
    const detail = await handler.get(cmd.job_id, { debug: cmd.debug });
    sendOk(res, { ...detail });
  });

  routes.add('POST', '/api/jobs/:id/regenerate', async ({ req, res, params }: RouteContext) => {
    // The job comes from the path; the body may carry only what the command adds (a seed, a request id).
    const cmd = parseCommand(regenerateCommandSchema, bodyWithPathField(await readJsonBody(req), 'job_id', params['id']));
    const { job, created } = await handler.regenerate(cmd);
    sendOk(res, { job, created }, created ? 201 : 200);
  });

  routes.add('POST', '/api/jobs/:id/cancel', async ({ req, res, params }: RouteContext) => {
    // A cancel takes no fields but the path's job: any other is refused, as over NATS.
    const cmd = parseCommand(jobIdCommandSchema, bodyWithPathField(await readJsonBody(req), 'job_id', params['id']));
    const job = await handler.cancel(cmd.job_id);
    sendOk(res, { job });
  });

  routes.add('GET', '/api/workflows', async ({ res }: RouteContext) => {
    const { workflows, problems } = await handler.workflows();
    sendOk(res, { workflows, problems });
  });

  routes.add('POST', '/api/workflows/:name/validate', async ({ req, res, params }: RouteContext) => {
    const cmd = parseCommand(validateCommandSchema, bodyWithPathField(await readJsonBody(req), 'workflow', params['name']));
    sendOk(res, { validation: await handler.validate(cmd) });
  });

  routes.add('GET', '/api/backends', async ({ res }: RouteContext) => {
    const cluster = health.cluster ? await health.cluster() : undefined;
    const backends = health
      .backends()
      .map((b) => (cluster ? { ...b, capacity: { ...b.capacity, in_use_all_instances: cluster.slots_in_use[b.name] ?? 0 } } : b));
    sendOk(res, { instance_id: health.instanceId, backends, ...(cluster ? { cluster } : {}) });
  });
}
