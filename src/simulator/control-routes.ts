/**
 * /_sim/* — the simulator's own routes, for tests that drive it from another process. They are
 * never subject to faults; everything else must look like ComfyUI.
 */
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SimulatorFaults, SimulatorStats } from './simulator-types.js';
import { parseJsonBody, replyEmpty, replyErrorText, replyJson } from './http-reply.js';

const faultRequestSchema = z.object({
  name: z.enum([
    'dropSocketsSilently',
    'closeSockets',
    'refuseConnections',
    'failHttp',
    'slowHttp',
    'succeedWithoutOutputs',
    'failNodeClass',
    'executionDelayMs',
    'holdExecution',
  ]),
  args: z.array(z.unknown()).default([]),
});

const argSchemas = {
  dropSocketsSilently: z.tuple([]),
  closeSockets: z.tuple([]),
  refuseConnections: z.tuple([z.boolean()]),
  failHttp: z.union([z.tuple([z.number().int().nullable()]), z.tuple([z.number().int().nullable(), z.array(z.string())])]),
  slowHttp: z.union([z.tuple([z.number().nonnegative()]), z.tuple([z.number().nonnegative(), z.array(z.string())])]),
  succeedWithoutOutputs: z.tuple([z.boolean()]),
  failNodeClass: z.tuple([z.string().nullable()]),
  executionDelayMs: z.tuple([z.number().nonnegative()]),
  holdExecution: z.tuple([z.boolean()]),
} as const;

export interface ControlTarget {
  faults: SimulatorFaults;
  stats(): SimulatorStats;
  restart(): Promise<void>;
}

export function handleControlRoute(target: ControlTarget, method: string, path: string, body: Buffer, res: ServerResponse): void {
  if (path === '/_sim/stats' && method === 'GET') return void replyJson(res, 200, target.stats());
  if (path === '/_sim/restart' && method === 'POST') {
    res.on('finish', () => void target.restart());
    return void replyEmpty(res);
  }
  if (path === '/_sim/fault' && method === 'POST') {
    const parsed = parseJsonBody(body);
    const request = faultRequestSchema.safeParse(parsed.ok ? parsed.value : undefined);
    if (!request.success) return void replyJson(res, 400, { error: request.error.issues.map((i) => i.message).join('; ') });
    const { name, args } = request.data;
    const checked = argSchemas[name].safeParse(args);
    if (!checked.success) return void replyJson(res, 400, { error: `bad args for ${name}: ${checked.error.issues.map((i) => i.message).join('; ')}` });
    const call = target.faults[name] as (...a: unknown[]) => void;
    call(...(checked.data as unknown[]));
    return void replyJson(res, 200, { ok: true });
  }
  replyErrorText(res, 404);
}
