/**
 * README's first steps, as a person types them, each command its own process, from a
 * working folder with no config file: `simulate` in one terminal, then `generate` (or
 * `serve` and a NATS `generate`) in another. The simulator writes into a temp folder the
 * service knows nothing about, so the files must come through /view (auto mode).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
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

    it('a workflow and a character added while serving are used within a second; broken files change nothing else', async () => {
      const request = async (verb: string, body: object) =>
        (await client.request(`chorus.visual.cmd.${verb}`, JSON.stringify(body), { timeout: 10_000 })).json<Record<string, any>>();
      const ended = client.subscribe('chorus.visual.events.c3.*.*');
      const noModel = JSON.parse(await readFile(`${folder.dir}/workflows/no_model_test.json`, 'utf8')) as Record<string, unknown>;

      // Chorus Engine keeps its workflows in the /prompt body shape; saved while serving.
      const loaded = serve.waitFor(/"workflow":"chorus_wrapped".*workflow loaded/, 10_000);
      let wrote = Date.now();
      await writeFile(`${folder.dir}/workflows/chorus_wrapped.json`, JSON.stringify({ prompt: noModel, client_id: 'chorus-engine' }));
      await loaded;
      expect(Date.now() - wrote).toBeLessThan(1_000);
      const viaWorkflow = await request('generate', { workflow: 'chorus_wrapped', conversation_id: 'c3', prompt: 'a lighthouse' });
      expect(viaWorkflow.ok).toBe(true);

      const characterLoaded = serve.waitFor(/"character":"mira".*character loaded/, 10_000);
      wrote = Date.now();
      await writeFile(`${folder.dir}/config/characters/mira.yaml`, 'id: mira\nname: Mira\nvisual_identity:\n  default_workflow: chorus_wrapped\n  prompt_context: a painter\n');
      await characterLoaded;
      expect(Date.now() - wrote).toBeLessThan(1_000);
      const viaCharacter = await request('generate', { character: 'mira', conversation_id: 'c3', user_request: 'at the easel' });
      expect(viaCharacter.ok).toBe(true);

      // A broken new file and a broken edit of a good one: reported, and the good version serves on.
      const brokenNew = serve.waitFor(/"workflow":"typo".*workflow file not loaded/, 10_000);
      await writeFile(`${folder.dir}/workflows/typo.json`, JSON.stringify({ ...noModel, '1': { class_type: 'PrimitiveString', inputs: { value: 'PROMPT_PLACEHOLDR' } } }));
      const brokenEdit = serve.waitFor(/"workflow":"chorus_wrapped".*"last_good_kept":true/, 10_000);
      await writeFile(`${folder.dir}/workflows/chorus_wrapped.json`, '{ "prompt": { half saved');
      await Promise.all([brokenNew, brokenEdit]);

      const refused = await request('generate', { workflow: 'typo', conversation_id: 'c3', prompt: 'x' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'WORKFLOW_INVALID' } });
      expect(refused.error.message).toContain('PROMPT_PLACEHOLDER');
      const listed = await request('workflows', {});
      expect(listed.workflows.map((w: { name: string }) => w.name)).toContain('chorus_wrapped');
      expect(listed.problems.map((p: { file: string }) => p.file.split('/').at(-1)).sort()).toEqual(['chorus_wrapped.json', 'typo.json']);
      const stillRuns = await request('generate', { character: 'mira', conversation_id: 'c3', user_request: 'again' });
      expect(stillRuns.ok).toBe(true);

      // Every accepted job finishes.
      const wanted = new Set([viaWorkflow.job.id, viaCharacter.job.id, stillRuns.job.id]);
      for await (const message of ended) {
        const [jobId, state] = message.subject.split('.').slice(-2);
        if (!wanted.has(jobId!) || !['completed', 'failed', 'cancelled'].includes(state!)) continue;
        expect(state).toBe('completed');
        wanted.delete(jobId!);
        if (wanted.size === 0) break;
      }
    }, 90_000);
  });
});
