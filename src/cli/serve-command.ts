/**
 * `chorus-visual serve`: the service as a deployment runs it. Config file + environment,
 * NATS commands and events, job actors, ComfyUI backends, HTTP inspector. A start that fails
 * logs one structured line (`"msg":"chorus-visual did not start"` with the error's code,
 * message, details, suggestion) and exits 1. SIGTERM/SIGINT: stop taking work, let running
 * jobs reach a persisted state, close sockets, exit 0 — within `shutdown.grace_seconds`
 * whatever state NATS, ComfyUI or the database are in. During the start too (NATS that does
 * not answer holds it up to 3 s): what was started is stopped, newest first, and it exits 0.
 * A second signal while stopping exits at once. Several instances: a run that lost its
 * instance id (INSTANCE_LEASE_LOST: it stalled past its lease) logs it, stops the same way
 * without retiring, and exits 1.
 */
import { defaultInstanceId, startApp, type ChorusVisualApp } from '../app/chorus-visual-app.js';
import { redactUrl, type ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, toChorusError } from '../errors/index.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { parseCommandArgs, type CommandHelp } from './cli-args.js';
import { watchDefinitions } from './definition-watch.js';
import { loadCliConfig } from './load-cli-config.js';
import { StartInterrupted, StopSignals } from './stop-signals.js';

const help: CommandHelp = {
  usage: 'chorus-visual serve [options]',
  summary:
    'Runs the service: NATS commands and events, the job actors, every ComfyUI backend, the HTTP API and inspector. Follows workflows/ and config/characters/ while it runs. SIGTERM or Ctrl-C stops it cleanly.',
  options: {
    config: 'FILE  the config file (default config/chorus-visual.yaml, or CHORUS_VISUAL_CONFIG)',
    'instance-id': "ID  this instance's name, one per running instance (a second one is refused); a stable one lets a restart take its own jobs back",
    'lease-ttl': 'SECONDS  several instances: how long one may be silent before others take its jobs',
    'http-port': 'N  the HTTP API and inspector port (0 picks a free one)',
    'no-nats': 'run without NATS (HTTP API and inspector only)',
    inspect: "connect every job actor to Stately's inspector",
    'inspect-url': "URL  the inspector's WebSocket URL (with --inspect)",
  },
};

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
    help,
  );
  let config: ResolvedConfig;
  try {
    config = await loadCliConfig(
      values.config,
      {
        INSTANCE_ID: values['instance-id'],
        HTTP_PORT: values['http-port'],
        NATS_ENABLED: values['no-nats'] ? 'false' : undefined,
      },
      { INSTANCE_ID: '--instance-id', HTTP_PORT: '--http-port', NATS_ENABLED: '--no-nats' },
    );
  } catch (error) {
    throw startFailed(createLogger({}), error);
  }
  // Every line names the instance (the id startApp will use: the configured one, else host-pid), once:
  // pino writes base fields and a call's fields side by side, so no call repeats instance_id.
  const logger = createLogger({ level: config.log_level, base: { instance_id: config.instance_id ?? defaultInstanceId() } });
  // From here to the end: a signal during the start stops what was started (the driver lock
  // included), a signal after it is the ordinary stop, and a second one exits at once.
  const signals = new StopSignals({ logger });
  const graceMs = config.shutdown.grace_seconds * 1000;
  void signals.requested.then(() => boundInterruptedStart(signals, graceMs, logger));

  let inspector: { inspect: (e: never) => void; url: string; stop(): void } | undefined;
  if (values.inspect) {
    const { createStatelyInspector } = await import('../http/stately-inspect.js');
    inspector = createStatelyInspector(values['inspect-url']) as typeof inspector;
    logger.info({ url: inspector!.url }, 'job actors report to the Stately inspector');
  }

  // Several instances on PostgreSQL: how long one may be silent before others take its jobs.
  const leaseTtlSeconds = values['lease-ttl'] === undefined ? undefined : Number(values['lease-ttl']);
  if (leaseTtlSeconds !== undefined && !(leaseTtlSeconds > 0)) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, '--lease-ttl must be a positive number of seconds', {
      suggestion: 'give --lease-ttl a number of seconds above 0, e.g. --lease-ttl 10',
    });
  }
  // A stray rejection in one job's I/O must not take every other job down with the process:
  // it is logged with its stack (a bug to fix), and the jobs keep their persisted states.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'unhandled rejection');
  });

  let app: ChorusVisualApp;
  let stopWatching: () => void;
  try {
    app = await startApp({
      config,
      logger,
      signal: signals.signal,
      ...(inspector ? { inspect: inspector.inspect as never } : {}),
      ...(leaseTtlSeconds === undefined ? {} : { runtime: { leaseTtlMs: leaseTtlSeconds * 1000 } }),
    });
  } catch (error) {
    inspector?.stop();
    // Only the interruption itself is a clean stop: a start that failed on its own is reported as such.
    if (error instanceof StartInterrupted) return startInterrupted(logger);
    throw startFailed(logger, error);
  }
  try {
    stopWatching = await watchDefinitions(app.runtime, logger);
  } catch (error) {
    await app.stop().catch(() => undefined);
    inspector?.stop();
    throw startFailed(logger, error);
  }
  signals.markStarted();
  // A signal during the last steps of the start: it never served, so it does not say it listens.
  if (!signals.signal.aborted) {
    logger.info(
      {
        http: app.http?.url ?? null,
        inspector: app.http ? `${app.http.url}/` : null,
        // Configuration in a log line goes through redactUrl: URLs may carry user:password@.
        nats: config.nats.enabled ? config.nats.servers.map(redactUrl) : null,
        database: redactUrl(config.database.url),
        backends: config.resolvedBackends.map((b) => `${b.name}=${redactUrl(b.url)}`),
        restored: app.runtime.restored,
        shared_database: app.runtime.coordination !== undefined,
      },
      'chorus-visual listening',
    );
  }

  // A signal, or (several instances) this run lost its instance id: it stalled past its lease
  // and another process may drive its jobs now. It has stopped driving them; it stops and
  // exits 1, for a supervisor to start it again (the restart claims the id anew).
  const ending = await Promise.race([signals.requested.then((signal) => ({ signal })), app.lost.then((lost) => ({ lost }))]);
  const exitCode = 'lost' in ending ? 1 : 0;
  if ('lost' in ending) {
    // A signal from now on is a second one: the operator insists, exit at once (StopSignals).
    signals.stopping(exitCode);
    logger.fatal({ error: ending.lost.toJSON() }, 'chorus-visual lost its instance id and stops');
  }
  stopWatching();
  await stopWithinGrace(app, graceMs, logger);
  inspector?.stop();
  logger.info({}, 'stopped');
  // Whatever is still open (a NATS connection still trying its first server, a socket a
  // peer never closed) must not keep a stopped service alive: exit once this turn ends.
  setTimeout(() => process.exit(exitCode), 50).unref();
  return exitCode;
}

/** Stops the app, or gives up waiting after `graceMs` (what is unpublished stays in the outbox). */
async function stopWithinGrace(app: ChorusVisualApp, graceMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    app.stop().then(
      () => true,
      (error: unknown) => {
        logger.error({ err: toChorusError(error).toJSON() }, 'one or more parts failed to stop; every part was still attempted');
        return true;
      },
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
  ]);
  clearTimeout(timer);
  if (!finished) logger.warn({ grace_seconds: graceMs / 1000 }, 'stop did not finish within the grace; exiting anyway (unpublished events stay in the outbox)');
}

/** A signal stopped the start: startApp has undone it, as for a failed start; a signal stop exits 0. */
function startInterrupted(logger: Logger): number {
  logger.info({}, 'stopped');
  // A NATS connection still looking for its first server must not keep it alive.
  setTimeout(() => process.exit(0), 50).unref();
  return 0;
}

/** Undoing an interrupted start gets the same grace as a stop: past it, exit anyway. */
function boundInterruptedStart(signals: StopSignals, graceMs: number, logger: Logger): void {
  const timer = setTimeout(() => {
    if (signals.isStarted()) return;
    logger.warn({ grace_seconds: graceMs / 1000 }, 'undoing the start did not finish within the grace; exiting anyway');
    process.exit(0);
  }, graceMs);
  timer.unref();
}

/** The one structured line a failed start leaves, then the error for the CLI's exit code 1. */
function startFailed(logger: Logger, error: unknown): ChorusError {
  const chorusError = toChorusError(error);
  logger.fatal({ error: chorusError.toJSON() }, 'chorus-visual did not start');
  // Everything started was stopped; a NATS connection still looking for its first server
  // cannot be cancelled, and must not keep a failed start alive.
  setTimeout(() => process.exit(1), 50).unref();
  return chorusError;
}
