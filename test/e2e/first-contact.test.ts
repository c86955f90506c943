/**
 * README's first steps, as a person types them, each command its own process, from a
 * working folder with no config file: `simulate` in one terminal, then `generate` (or
 * `serve` and a NATS `generate`) in another. The simulator writes into a temp folder the
 * service knows nothing about, so the files must come through /view (auto mode).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsTestServer } from '../support/nats-server.js';
import { makeUserFolder, runCli, startCli, type CliProcess, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
let simulator: CliProcess;
let comfyUrl: string;

beforeAll(async () => {
  folder = await makeUserFolder();
  simulator = startCli(['simulate', '--port', '0', '--step-ms', '1'], { cwd: folder.dir });
  comfyUrl = (await simulator.waitFor(/listening on (http:\/\/\S+)/, 60_000))[1]!;
}, 90_000);

afterAll(async () => {
  expect(await simulator?.stop()).toBe(0);
  await folder?.remove();
}, 60_000);

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('first contact, separate processes, no configuration', () => {
  it('simulate + generate: the character\'s image arrives, downloaded through /view', async () => {
    // The only setting: where the simulator listens (any free port, so tests never collide).
    const env = { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_ENABLED: 'false' };
    const generated = await runCli(['generate', '--character', 'nova', '--conversation', 'c1', '--json', 'send me a selfie of you sketching'], { cwd: folder.dir, env });
    expect(generated.stderr).not.toMatch(/OUTPUT_FILE_NOT_FOUND/);
    expect(generated.code).toBe(0);
    const job = JSON.parse(generated.stdout) as { id: string; state: string; result: { metadataPath: string; files: Array<{ absolutePath: string; sha256: string; via: string }> } };
    expect(job.state).toBe('completed');
    expect(job.result.files[0]!.absolutePath.startsWith(folder.dir)).toBe(true);
    expect(job.result.files[0]!.via).toBe('download');
    expect(sha256(await readFile(job.result.files[0]!.absolutePath))).toBe(job.result.files[0]!.sha256);

    const sidecar = JSON.parse(await readFile(`${folder.dir}/data/${job.result.metadataPath}`, 'utf8')) as { collect_mode: string; files: Array<{ via: string }>; timings: { total_ms: number } };
    expect(sidecar).toMatchObject({ collect_mode: 'auto', files: [{ via: 'download' }] });
    expect(sidecar.timings.total_ms).toEqual(expect.any(Number));

    const shown = await runCli(['jobs', 'show', job.id, '--debug', '--json'], { cwd: folder.dir, env });
    expect(JSON.parse(shown.stdout).debug.output_files).toEqual([expect.objectContaining({ via: 'download' })]);
  }, 120_000);

  describe('simulate + serve + a NATS generate', () => {
    let nats: NatsTestServer;
    let serve: CliProcess;
    let client: NatsConnection;

    beforeAll(async () => {
      nats = await NatsTestServer.start();
      serve = startCli(['serve', '--http-port', '0'], { cwd: folder.dir, env: { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]` } });
      await serve.waitFor(/chorus-visual listening/, 60_000);
      client = await connect({ servers: nats.url });
    }, 90_000);

    afterAll(async () => {
      await client?.close();
      expect(await serve?.stop()).toBe(0);
      await nats?.cleanup();
    }, 60_000);

    it('completes the job with its file, and says once that ComfyUI\'s folder is elsewhere', async () => {
      const events = client.subscribe('chorus.visual.events.c2.>');
      const reply = await client.request('chorus.visual.cmd.generate', JSON.stringify({ character: 'nova', conversation_id: 'c2', user_request: 'a selfie at the beach' }), { timeout: 10_000 });
      const body = reply.json<{ ok: boolean; job: { id: string } }>();
      expect(body.ok).toBe(true);
      let last = '';
      for await (const message of events) {
        last = message.subject.split('.').at(-1)!;
        if (['completed', 'failed', 'cancelled'].includes(last)) break;
      }
      expect(last).toBe('completed');

      const got = (await client.request('chorus.visual.cmd.get', JSON.stringify({ job_id: body.job.id }), { timeout: 5_000 })).json<{
        job: { result: { files: Array<{ absolutePath: string; via: string }> } };
      }>();
      expect(got.job.result.files[0]!.via).toBe('download');
      await readFile(got.job.result.files[0]!.absolutePath);
      // The simulator runs on this machine: the log names the folder it reports.
      const advice = await serve.waitFor(/"comfyui_output_directory":"([^"]+)"/);
      expect(advice[1]).toMatch(/comfy-sim-/);
    }, 60_000);
  });
});
