/**
 * A profiling aid for issue 16's CPU target, not part of `npm run bench`: what the work every
 * job must do costs on this machine when nothing else is done — the floor under the
 * throughput benchmark's `service_cpu_ms_per_job`. A process of its own (this file, role
 * `floor`) does per job, with the same libraries as the service but none of its structure
 * (no XState, Kysely, zod, scheduler or outbox relay):
 * - a NATS `cmd.generate`-like request answered once the job's row and first event are
 *   committed;
 * - 7 events, as the service writes per job: that first one, then 6 transitions, each an
 *   UPDATE of the job's row with a ~1.5 KB snapshot text and an INSERT of a ~1 KB event
 *   (better-sqlite3, WAL, synchronous NORMAL, one transaction per event-loop turn); each
 *   event published to JetStream (message id, ack awaited; a job's one after the other) and
 *   marked published (one UPDATE per turn);
 * - ComfyUI: `POST /prompt` (undici), the backend's shared WebSocket (ws) routed by prompt
 *   id, `GET /history/{id}`;
 * - the files: ComfyUI's file read, hashed (sha256) and fsynced when `executed` names it;
 *   then realpath and lstat of the destination, the image renamed in, the sidecar written to
 *   a new temp file, renamed, and the sidecar and the folder fsynced side by side.
 * Simulators run in child processes as in the throughput benchmark (4, 8 slots each), and so
 * does the load: 8 submitters, 256 jobs in flight.
 *   BENCH_IMAGE_SIZE=64 npx tsx bench/cpu-floor.ts --jobs 2000
 * CPU: process.cpuUsage() of the floor process (every thread), for all jobs and for the jobs
 * from --warmup ended to all but 256 ended (as throughput's second row).
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { request } from 'undici';
import WebSocket from 'ws';
import { benchWorkflowsDir, createBenchDir, natsUrl, uniqueRunNames } from './bench-environment.js';
import { startChildSimulator } from './child-simulator.js';

const eventsPerJob = 7;
const padding = (bytes: number) => 'x'.repeat(bytes);

interface FloorJob {
  id: string;
  conversation: string;
  prompt: string;
  seed: number;
  seq: number;
  snapshot: Record<string, unknown>;
  view: Record<string, unknown>;
}

interface Backend {
  url: string;
  outputDir: string;
  clientId: string;
  slots: number;
  waiting: Array<() => void>;
  prompts: Map<string, PromptWatch>;
}

/** Made by whichever comes first, the prompt's first socket message or its POST reply (it may finish before the reply is read). */
interface PromptWatch {
  warmed: Array<Promise<{ file: string; sha256: string; bytes: number }>>;
  finished: Promise<void>;
  done: () => void;
}

function watchOf(backend: Backend, promptId: string): PromptWatch {
  let watch = backend.prompts.get(promptId);
  if (!watch) {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    watch = { warmed: [], finished, done };
    backend.prompts.set(promptId, watch);
  }
  return watch;
}

async function floorProcess(): Promise<void> {
  const {
    dir,
    backends: backendList,
    stream,
    prefix,
    warmup,
    jobs: jobCount,
    graphFile,
  } = JSON.parse(process.argv[3]!) as {
    dir: string;
    backends: Array<{ url: string; outputDir: string }>;
    stream: string;
    prefix: string;
    warmup: number;
    jobs: number;
    graphFile: string;
  };
  // The workflow file as the service sends it: nodes only (its `metadata` entry is ours, not ComfyUI's).
  const nodes = JSON.parse(await fs.readFile(graphFile, 'utf8')) as Record<string, { class_type?: unknown }>;
  for (const [key, node] of Object.entries(nodes)) if (typeof node.class_type !== 'string') delete nodes[key];
  const graphTemplate = JSON.stringify(nodes);
  const db = new Database(path.join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, conversation_id TEXT, status TEXT, parameters TEXT, snapshot TEXT, last_seq INTEGER, updated_at TEXT);
    CREATE INDEX jobs_status ON jobs(status); CREATE INDEX jobs_conv ON jobs(conversation_id);
    CREATE TABLE job_events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT, seq INTEGER, type TEXT, data TEXT, at TEXT, published_at TEXT, UNIQUE(job_id, seq));
    CREATE INDEX job_events_unpublished ON job_events(id) WHERE published_at IS NULL;`);
  const insertJob = db.prepare('INSERT INTO jobs (id, conversation_id, status, parameters, snapshot, last_seq, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)');
  const updateJob = db.prepare('UPDATE jobs SET status = ?, snapshot = ?, last_seq = ?, updated_at = ? WHERE id = ?');
  const insertEvent = db.prepare('INSERT INTO job_events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)');
  const markPublished = db.prepare('UPDATE job_events SET published_at = ? WHERE id IN (SELECT value FROM json_each(?))');

  // One transaction per event-loop turn, as the service's group commit (check phase).
  let pendingWrites: Array<{ write: () => number; done: (eventId: number) => void }> = [];
  const commitTurn = () => {
    const batch = pendingWrites;
    pendingWrites = [];
    const ids = db.transaction(() => batch.map(({ write }) => write()))();
    for (const [i, { done }] of batch.entries()) done(ids[i]!);
  };
  const written = (write: () => number) =>
    new Promise<number>((resolve) => {
      if (pendingWrites.length === 0) setImmediate(commitTurn);
      pendingWrites.push({ write, done: resolve });
    });
  let toMark: number[] = [];
  const markTurn = () => {
    const ids = toMark;
    toMark = [];
    markPublished.run(new Date().toISOString(), JSON.stringify(ids));
  };

  const nc = await connect({ servers: natsUrl, name: 'chorus-cpu-floor' });
  const js = nc.jetstream();
  const encoder = new TextEncoder();

  // A job's events go one at a time (the service's per-job lane): each waits for the one before.
  const lanes = new Map<string, Promise<void>>();
  const publish = (job: FloorJob, seq: number, type: string, data: string, eventId: number) => {
    const previous = lanes.get(job.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', `${job.id}:${seq}`);
      const body = `{"specversion":"1.0","id":"${job.id}:${seq}","type":"chorus.visual.job.${type}","source":"floor","subject":"${job.id}","time":"${new Date().toISOString()}","datacontenttype":"application/json","data":${data}}`;
      await js.publish(`${prefix}.${job.conversation}.${job.id}.${type}`, encoder.encode(body), { headers: h, timeout: 5000 });
      if (toMark.length === 0) setImmediate(markTurn);
      toMark.push(eventId);
    });
    lanes.set(job.id, next);
    return next;
  };

  const transition = async (job: FloorJob, status: string, extra: Record<string, unknown> = {}) => {
    job.seq += 1;
    Object.assign(job.snapshot, { value: status, seq: job.seq }, extra);
    Object.assign(job.view, { state: status, seq: job.seq, updated_at: new Date().toISOString() }, extra);
    const snapshot = JSON.stringify(job.snapshot);
    const data = JSON.stringify(job.view);
    const at = new Date().toISOString();
    const seq = job.seq;
    const eventId = await written(() => {
      updateJob.run(status, snapshot, seq, at, job.id);
      return Number(insertEvent.run(job.id, seq, status, data, at).lastInsertRowid);
    });
    await publish(job, seq, status, data, eventId);
  };

  const backends: Backend[] = backendList.map((b) => ({ ...b, clientId: randomUUID(), slots: 8, waiting: [], prompts: new Map() }));
  await Promise.all(
    backends.map(async (backend) => {
      const ws = new WebSocket(`${backend.url.replace(/^http/, 'ws')}/ws?clientId=${backend.clientId}`);
      await once(ws, 'open');
      ws.on('message', (raw, isBinary) => {
        if (isBinary) return;
        const message = JSON.parse(raw.toString()) as { type: string; data: { prompt_id?: string; node?: string | null; output?: Record<string, unknown> } };
        if (!message.data.prompt_id) return;
        const watch = watchOf(backend, message.data.prompt_id);
        if (message.type === 'executed') {
          for (const item of (message.data.output?.['images'] as Array<{ filename: string; subfolder: string; type: string }> | undefined) ?? []) {
            if (item.type === 'output') watch.warmed.push(warmFile(path.join(backend.outputDir, item.subfolder, item.filename)));
          }
        } else if (message.type === 'executing' && message.data.node === null) watch.done();
      });
    }),
  );
  const acquire = async (backend: Backend) => {
    if (backend.slots > 0) backend.slots -= 1;
    else await new Promise<void>((resolve) => backend.waiting.push(resolve));
  };
  const release = (backend: Backend) => {
    const next = backend.waiting.shift();
    if (next) next();
    else backend.slots += 1;
  };

  let ended = 0;
  const checkpoints: Record<string, NodeJS.CpuUsage & { at: number }> = {};
  const mark = (name: string) => {
    checkpoints[name] = { ...process.cpuUsage(), at: performance.now() };
  };
  let allEnded: () => void;
  const finished = new Promise<void>((resolve) => {
    allEnded = resolve;
  });
  let backendTurn = 0;

  const run = async (job: FloorJob) => {
    const backend = backends[backendTurn++ % backends.length]!;
    await transition(job, 'queued.waiting');
    await acquire(backend);
    try {
      await transition(job, 'queued.slot');
      // Unique inputs per job, as the service injects them: ComfyUI's cache never answers.
      const graph = graphTemplate.replace('PROMPT_PLACEHOLDER', job.prompt).replace('SEED_PLACEHOLDER', String(job.seed));
      const reply = await request(`${backend.url}/prompt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"prompt":${graph},"client_id":"${backend.clientId}"}`,
      });
      if (reply.statusCode !== 200) throw new Error(`POST /prompt: HTTP ${reply.statusCode} ${await reply.body.text()}`);
      const { prompt_id: promptId } = (await reply.body.json()) as { prompt_id: string };
      const watch = watchOf(backend, promptId);
      await transition(job, 'submitted', { prompt_id: promptId });
      await transition(job, 'processing');
      await watch.finished;
      backend.prompts.delete(promptId);
      const history = (await (await request(`${backend.url}/history/${promptId}`)).body.json()) as Record<
        string,
        { outputs: Record<string, { images?: Array<{ filename: string; subfolder: string; type: string }> }> }
      >;
      const images = Object.values(history[promptId]!.outputs).flatMap((node) => node.images ?? []);
      await transition(job, 'moving');
      const warmed = await Promise.all(watch.warmed);
      const folder = path.join(dir, 'data', 'conversations', job.conversation, 'images');
      await fs.realpath(folder);
      const destination = path.join(folder, `${job.id}.png`);
      await fs.lstat(destination).catch(() => undefined);
      await fs.rename(warmed[0]!.file, destination);
      const sidecar = JSON.stringify({ job_id: job.id, files: warmed.map((w) => ({ sha256: w.sha256, bytes: w.bytes })), images, prompt: job.prompt }, null, 2);
      const temp = `${destination}.${randomUUID().slice(0, 8)}.tmp`;
      const handle = await fs.open(temp, 'wx', 0o644);
      await handle.write(sidecar);
      await fs.rename(temp, path.join(folder, `${job.id}_metadata.json`));
      const folderHandle = await fs.open(folder, 'r');
      await Promise.all([handle.sync(), folderHandle.sync()]);
      await Promise.all([handle.close(), folderHandle.close()]);
      await transition(job, 'completed', { result: { path: destination } });
    } finally {
      release(backend);
    }
    ended += 1;
    if (ended === warmup) mark('warm_start');
    if (ended === jobCount - 256) mark('warm_end');
    if (ended === jobCount) {
      mark('end');
      allEnded();
    }
  };

  await nc.subscribe('floor.cmd.generate', {
    callback: (error, msg) => {
      if (error) return;
      if (!checkpoints['start']) mark('start');
      const command = JSON.parse(new TextDecoder().decode(msg.data)) as { conversation_id: string; prompt: string; seed: number };
      const id = randomUUID();
      const job: FloorJob = {
        id,
        conversation: command.conversation_id,
        prompt: command.prompt,
        seed: command.seed,
        seq: 0,
        snapshot: { status: 'active', context: { job_id: id, request: command, padding: padding(1100) }, children: {} },
        view: { id, conversation_id: command.conversation_id, workflow: 'no_model_test', prompt: command.prompt, seed: command.seed, padding: padding(600) },
      };
      const at = new Date().toISOString();
      const data = JSON.stringify(job.view);
      void written(() => {
        insertJob.run(id, command.conversation_id, 'queued', JSON.stringify(command), JSON.stringify(job.snapshot), at);
        return Number(insertEvent.run(id, 0, 'created', data, at).lastInsertRowid);
      }).then((eventId) => {
        // Published like every other event (the service publishes `created` as `queued`).
        void publish(job, 0, 'queued', data, eventId);
        msg.respond(encoder.encode(`{"ok":true,"job_id":"${id}"}`));
        void run(job);
      });
    },
  });
  for (let i = 0; i < 16; i++) mkdirSync(path.join(dir, 'data', 'conversations', `bench-conv-${i}`, 'images'), { recursive: true });
  process.send!({ ready: true, stream });
  await finished;
  await nc.drain();
  db.close();
  const cpu = (from: string, to: string) => {
    const a = checkpoints[from]!;
    const b = checkpoints[to]!;
    return { cpuMs: (b.user - a.user + b.system - a.system) / 1000, wallMs: b.at - a.at };
  };
  process.send!({ all: cpu('start', 'end'), warm: cpu('warm_start', 'warm_end') });
}

async function warmFile(file: string): Promise<{ file: string; sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 16 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const handle = await fs.open(file, 'r');
  await handle.sync();
  await handle.close();
  return { file, sha256: hash.digest('hex'), bytes };
}

async function driver(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '2000' }, warmup: { type: 'string' } }, strict: true });
  const jobs = Number(values.jobs);
  const warmup = Number(values.warmup ?? Math.floor(jobs / 2));
  if (!(jobs > 512) || !(warmup > 0 && warmup < jobs - 256)) throw new Error('--jobs must be over 512 and --warmup between 1 and jobs − 256');
  const load0 = loadavg();
  const bench = await createBenchDir('cpu-floor');
  const names = uniqueRunNames('floor');
  const sims = await Promise.all(Array.from({ length: 4 }, () => startChildSimulator({ stepMs: 0, nodeMs: 0 })));
  const nc: NatsConnection = await connect({ servers: natsUrl, name: 'chorus-cpu-floor-driver' });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: names.streamName, subjects: [`${names.subjectPrefix}.>`] });
  try {
    const graphFile = path.join(benchWorkflowsDir(bench.path), 'no_model_test.json');
    const config = JSON.stringify({
      dir: bench.path,
      backends: sims.map((s) => ({ url: s.url, outputDir: s.outputDir })),
      stream: names.streamName,
      prefix: names.subjectPrefix,
      warmup,
      jobs,
      graphFile,
    });
    // FLOOR_NODE_ARGS: Node flags for the floor process (to profile it: --perf-basic-prof, --cpu-prof).
    const nodeArgs = (process.env['FLOOR_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', import.meta.filename, 'floor', config], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const messages: Array<Record<string, unknown>> = [];
    const next = () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const take = () => (messages.length > 0 ? resolve(messages.shift()!) : undefined);
        child.once('message', (m) => {
          messages.push(m as Record<string, unknown>);
          take();
        });
        child.once('exit', (code) => reject(new Error(`floor process exited (${code})`)));
      });
    await next();
    let sent = 0;
    let completed = 0;
    let waiters: Array<() => void> = [];
    const completions = nc.subscribe(`${names.subjectPrefix}.*.*.completed`, {
      callback: () => {
        completed += 1;
        const woken = waiters;
        waiters = [];
        for (const wake of woken) wake();
      },
    });
    const encoder = new TextEncoder();
    const submitter = async () => {
      while (sent < jobs) {
        // The throughput benchmark's submit window: at most 256 jobs sent and not completed.
        while (sent - completed >= 256) await new Promise<void>((resolve) => waiters.push(resolve));
        if (sent >= jobs) return;
        const index = sent++;
        await nc.request(
          'floor.cmd.generate',
          encoder.encode(JSON.stringify({ conversation_id: `bench-conv-${index % 16}`, prompt: `floor image ${index}`, seed: index })),
          { timeout: 60_000 },
        );
      }
    };
    const resultMessage = next();
    await Promise.all(Array.from({ length: 8 }, submitter));
    completions.unsubscribe();
    const result = (await resultMessage) as { all: { cpuMs: number; wallMs: number }; warm: { cpuMs: number; wallMs: number } };
    const warmJobs = jobs - 256 - warmup;
    console.log(
      `machine: load ${load0.map((n) => n.toFixed(2)).join(' ')} → ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `cpu floor, ${jobs} jobs (${eventsPerJob} events each): all jobs ${(result.all.cpuMs / jobs).toFixed(2)} ms CPU per job, ${((jobs / result.all.wallMs) * 1000).toFixed(0)} jobs/s`,
    );
    console.log(`jobs ${warmup}–${jobs - 256}: ${(result.warm.cpuMs / warmJobs).toFixed(2)} ms CPU per job`);
  } finally {
    await jsm.streams.delete(names.streamName).catch(() => false);
    await nc.close();
    await Promise.all(sims.map((s) => s.stop()));
    await bench.remove();
  }
}

if (process.argv[2] === 'floor') await floorProcess();
else await driver();
