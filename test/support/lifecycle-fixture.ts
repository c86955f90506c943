/**
 * Shared set-up of the process-lifecycle tests: a SQLite database holding one unfinished job
 * that a wrongly started driver would restore and submit, the facts that say whether anything
 * touched it, and a `$SRV.PING` counter for the time a process lives.
 */
import Database from 'better-sqlite3';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, createInbox, type ConnectionOptions } from 'nats';
import { startApp } from '../../src/app/chorus-visual-app.js';
import { generateCommandSchema } from '../../src/commands/command-schemas.js';
import { parseServiceConfig } from '../../src/config/index.js';

export interface UnfinishedJob {
  databasePath: string;
  jobId: string;
}

/**
 * Admits a job while no ComfyUI answers (it waits for a slot in `queued`), then stops the
 * service cleanly: the job stays unfinished in the database, ready to be restored.
 */
export async function databaseWithUnfinishedJob(root: string): Promise<UnfinishedJob> {
  const databasePath = join(root, 'data', 'jobs.db');
  const config = parseServiceConfig({
    comfyui: { url: `http://127.0.0.1:${await freePort()}`, connection_retry_attempts: 1 },
    data_dir: join(root, 'data'),
    database: { url: `sqlite:${databasePath}` },
    nats: { enabled: false },
    http: { enabled: false },
  });
  const app = await startApp({ config, bus: 'memory', http: false });
  try {
    const { job } = await app.runtime.service.generate(
      generateCommandSchema.parse({ conversation_id: 'c-untouched', workflow: 'no_model_test', prompt: 'must not run' }),
    );
    return { databasePath, jobId: job.id };
  } finally {
    await app.stop();
  }
}

/** What a driver would change: the job row's position and sequence, and its events. */
export function jobFacts(job: UnfinishedJob): { status: string; substate: string | null; last_seq: number; updated_at: string; events: number } {
  const db = new Database(job.databasePath, { readonly: true });
  try {
    const row = db.prepare('select status, substate, last_seq, updated_at from visual_generation_jobs where id = ?').get(job.jobId) as {
      status: string;
      substate: string | null;
      last_seq: number;
      updated_at: string;
    };
    const { n } = db.prepare('select count(*) as n from job_events where job_id = ?').get(job.jobId) as { n: number };
    return { ...row, events: n };
  } finally {
    db.close();
  }
}

/**
 * Sends `$SRV.PING.chorus-visual` every 50 ms until `until` settles and collects every
 * answer (all responders, not just the first): the instance ids that answered.
 */
export async function pingRespondersUntil(options: ConnectionOptions, until: Promise<unknown>): Promise<string[]> {
  const nc = await connect(options);
  const responders = new Set<string>();
  const inbox = createInbox();
  const replies = nc.subscribe(inbox);
  void (async () => {
    for await (const msg of replies) {
      // No responders: the server's empty status message, not an answer.
      if (msg.data.length === 0) continue;
      const reply = msg.json<{ id: string; metadata?: Record<string, string> }>();
      responders.add(reply.metadata?.['instance'] ?? reply.id);
    }
  })();
  let done = false;
  void until.finally(() => (done = true));
  try {
    while (!done) {
      nc.publish('$SRV.PING.chorus-visual', '', { reply: inbox });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await nc.flush();
  } finally {
    await nc.close();
  }
  return [...responders].sort();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
