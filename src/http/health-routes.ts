/**
 * /healthz says the process answers; /readyz says it can do its work: the database
 * answers, NATS is connected (when enabled) and at least one ComfyUI backend is healthy.
 * A single sick backend in a pool is reported but does not make the service unready.
 */
import { sendJson, sendOk } from './http-error-envelope.js';
import type { HealthSources } from './ports.js';
import type { RouteTable } from './route-table.js';

interface ReadinessReport {
  ready: boolean;
  reasons: string[];
  checks: {
    database: boolean;
    nats: { connected: boolean; kind: string } | 'disabled';
    backends: { name: string; healthy: boolean; socket: string; last_error?: string }[];
  };
}

async function databaseAnswers(health: HealthSources): Promise<boolean> {
  try {
    return await health.database();
  } catch {
    return false;
  }
}

export async function checkReadiness(health: HealthSources): Promise<ReadinessReport> {
  const reasons: string[] = [];
  const database = await databaseAnswers(health);
  if (!database) reasons.push('database does not answer');

  const nats = health.nats();
  if (nats && !nats.connected) reasons.push(`NATS (${nats.kind}) is not connected`);

  const backends = health.backends().map((b) => ({
    name: b.name,
    healthy: b.healthy,
    socket: b.socket,
    ...(b.lastError === undefined ? {} : { last_error: b.lastError }),
  }));
  if (backends.length === 0) reasons.push('no ComfyUI backend is configured');
  else if (!backends.some((b) => b.healthy)) {
    for (const b of backends) reasons.push(`backend ${b.name} is unhealthy${b.last_error ? `: ${b.last_error}` : ''}`);
  }

  return { ready: reasons.length === 0, reasons, checks: { database, nats: nats ?? 'disabled', backends } };
}

export function addHealthRoutes(routes: RouteTable, health: HealthSources, startedAt: number): void {
  routes.add('GET', '/healthz', ({ res }) => {
    sendOk(res, { status: 'alive', instance_id: health.instanceId, uptime_seconds: Math.round((Date.now() - startedAt) / 1000) });
  });
  routes.add('GET', '/readyz', async ({ res }) => {
    const report = await checkReadiness(health);
    sendJson(res, report.ready ? 200 : 503, { ok: report.ready, instance_id: health.instanceId, ...report });
  });
}
