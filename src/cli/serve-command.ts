/**
 * `chorus-visual serve`: the service as a deployment runs it. Config file + environment,
 * NATS commands and events, job actors, ComfyUI backends, HTTP inspector. SIGTERM/SIGINT:
 * stop taking work, let running jobs reach a persisted state, close sockets, exit 0.
 */
import { startApp } from '../app/chorus-visual-app.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { createLogger } from '../logging/logger.js';
import { parseCommandArgs } from './cli-args.js';
import { loadCliConfig } from './load-cli-config.js';

const usage = 'usage: chorus-visual serve [--config FILE] [--instance-id ID] [--lease-ttl SECONDS] [--http-port N] [--no-nats] [--inspect] [--inspect-url WS_URL]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      config: { type: 'string' },
      'instance-id': { type: 'string' },
      'lease-ttl': { type: 'string' },
      'http-port': { type: 'string' },
      'no-nats': { type: 'boolean' },
      inspect: { type: 'boolean' },
      'inspect-url': { type: 'string' },
    },
    usage,
  );
  const config = await loadCliConfig(values.config, {
    INSTANCE_ID: values['instance-id'],
    HTTP_PORT: values['http-port'],
    NATS_ENABLED: values['no-nats'] ? 'false' : undefined,
  });
  const logger = createLogger({ level: config.log_level, base: config.instance_id ? { instance_id: config.instance_id } : {} });

  let inspector: { inspect: (e: never) => void; url: string; stop(): void } | undefined;
  if (values.inspect) {
    const { createStatelyInspector } = await import('../http/stately-inspect.js');
    inspector = createStatelyInspector(values['inspect-url']) as typeof inspector;
    logger.info({ url: inspector!.url }, 'job actors report to the Stately inspector');
  }

  // Several instances on PostgreSQL: how long one may be silent before others take its jobs.
  const leaseTtlSeconds = values['lease-ttl'] === undefined ? undefined : Number(values['lease-ttl']);
  if (leaseTtlSeconds !== undefined && !(leaseTtlSeconds > 0)) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, '--lease-ttl must be a positive number of seconds', { suggestion: usage });
  }
  // A stray rejection in one job's I/O must not take every other job down with the process:
  // it is logged with its stack (a bug to fix), and the jobs keep their persisted states.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'unhandled rejection');
  });

  const app = await startApp({
    config,
    logger,
    ...(inspector ? { inspect: inspector.inspect as never } : {}),
    ...(leaseTtlSeconds === undefined ? {} : { runtime: { leaseTtlMs: leaseTtlSeconds * 1000 } }),
  });
  logger.info(
    {
      instance_id: app.instanceId,
      http: app.http?.url ?? null,
      inspector: app.http ? `${app.http.url}/` : null,
      nats: config.nats.enabled ? config.nats.servers : null,
      database: config.database.url.replace(/\/\/[^@/]*@/, '//***@'),
      backends: config.resolvedBackends.map((b) => `${b.name}=${b.url}`),
      restored: app.runtime.restored,
      shared_database: app.runtime.coordination !== undefined,
    },
    'chorus-visual listening',
  );

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await app.stop();
  inspector?.stop();
  logger.info({}, 'stopped');
  return 0;
}
