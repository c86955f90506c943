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
  it("simulate + generate: the character's image arrives, downloaded through /view", async () => {
    // The only setting: where the simulator listens (any free port, so tests never collide).
    const env = { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_ENABLED: 'false' };
    const generated = await runCli(['generate', '--character', 'nova', '--conversation', 'c1', '--json', 'send me a selfie of you sketching'], {
      cwd: folder.dir,
      env,
    });
    expect(generated.stderr).not.toMatch(/OUTPUT_FILE_NOT_FOUND/);
    expect(generated.code).toBe(0);
    const job = JSON.parse(generated.stdout) as {
      id: string;
      state: string;
      result: { metadataPath: string; files: Array<{ absolutePath: string; sha256: string; via: string }> };
    };
    expect(job.state).toBe('completed');
    expect(job.result.files[0]!.absolutePath.startsWith(folder.dir)).toBe(true);
    expect(job.result.files[0]!.via).toBe('download');
    expect(sha256(await readFile(job.result.files[0]!.absolutePath))).toBe(job.result.files[0]!.sha256);

    const sidecar = JSON.parse(await readFile(`${folder.dir}/data/${job.result.metadataPath}`, 'utf8')) as {
      collect_mode: string;
      files: Array<{ via: string }>;
      timings: { total_ms: number };
    };
    expect(sidecar).toMatchObject({ collect_mode: 'auto', files: [{ via: 'download' }] });
    expect(sidecar.timings.total_ms).toEqual(expect.any(Number));

    const shown = await runCli(['jobs', 'show', job.id, '--debug', '--json'], { cwd: folder.dir, env });
    expect(JSON.parse(shown.stdout).debug.output_files).toEqual([expect.objectContaining({ via: 'download' })]);
  }, 120_000);

  it('jobs list has a header and a workflow column; jobs show takes the short id and reads as a summary whose timings add up', async () => {
    const env = { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_ENABLED: 'false' };
    const generated = await runCli(['generate', '--workflow', 'no_model_test', '--conversation', 'c5', '--prompt', '--json', 'a red fox'], {
      cwd: folder.dir,
      env,
    });
    const id = (JSON.parse(generated.stdout) as { id: string }).id;

    const listed = await runCli(['jobs', 'list', '--conversation', 'c5'], { cwd: folder.dir, env });
    const [header, row] = listed.stdout.split('\n');
    expect(header).toMatch(/^JOB\s+STATE\s+CHARACTER\s+WORKFLOW\s+CONVERSATION\s+CREATED\s+ERROR$/);
    expect(row).toMatch(new RegExp(`^${id.slice(0, 8)}\\s+completed\\s+-\\s+no_model_test\\s+c5\\s`));

    const shown = await runCli(['jobs', 'show', id.slice(0, 8)], { cwd: folder.dir, env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^job ${id}\n\\s+state\\s+completed\n`));
    expect(shown.stdout).toMatch(/^\s+image\s+\/.*\.png \(.*512×512, download\)$/m);
    const timing = /queue (\d+) ms \+ ComfyUI queue (\d+) ms \+ generation (\d+) ms \+ file move (\d+) ms = total (\d+) ms/.exec(shown.stdout);
    expect(timing).not.toBeNull();
    const [queue, comfy, generation, move, total] = timing!.slice(1).map(Number);
    expect(queue! + comfy! + generation! + move!).toBe(total);

    // A finished job: watch shows it and ends at once.
    const watched = await runCli(['jobs', 'watch', id.slice(0, 6)], { cwd: folder.dir, env });
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/state\s+completed/);
  }, 180_000);

  it('data_dir also places the default database', async () => {
    const elsewhere = `${folder.dir}/elsewhere`;
    const listed = await runCli(['jobs', 'list'], { cwd: folder.dir, env: { CHORUS_VISUAL_DATA_DIR: elsewhere } });
    expect(listed).toMatchObject({ code: 0, stdout: 'no jobs\n' });
    // A reader creates nothing: it names where the database would be, under data_dir.
    expect(listed.stderr).toContain(`${elsewhere}/chorus-visual.db`);
    await expect(readFile(`${elsewhere}/chorus-visual.db`)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  describe('simulate + serve + a NATS generate', () => {
    let nats: NatsTestServer;
    let serve: CliProcess;
    let client: NatsConnection;

    beforeAll(async () => {
      nats = await NatsTestServer.start();
      serve = startCli(['serve', '--http-port', '0'], {
        cwd: folder.dir,
        env: { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]` },
      });
      await serve.waitFor(/chorus-visual listening/, 60_000);
      client = await connect({ servers: nats.url });
    }, 90_000);

    afterAll(async () => {
      await client?.close();
      expect(await serve?.stop()).toBe(0);
      await nats?.cleanup();
    }, 60_000);

    it("completes the job with its file, and says once that ComfyUI's folder is elsewhere", async () => {
      const events = client.subscribe('chorus.visual.events.c2.>');
      const reply = await client.request(
        'chorus.visual.cmd.generate',
        JSON.stringify({ character: 'nova', conversation_id: 'c2', user_request: 'a selfie at the beach' }),
        { timeout: 10_000 },
      );
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

    it('doctor: a healthy setup passes with secrets redacted; a broken one exits 1 saying what to fix', async () => {
      const healthy = await runCli(['doctor'], {
        cwd: folder.dir,
        env: { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]`, CHORUS_VISUAL_LLM_API_KEY: 'sk-very-secret' },
      });
      expect(healthy.stdout).not.toContain('sk-very-secret');
      expect(healthy.stdout).toMatch(/api_key: "\*\*\*"/);
      expect(healthy.stdout).toMatch(/✓ comfyui default\s+http:\/\/127\.0\.0\.1:\d+: ComfyUI 0\.3\.64; models: \d+ checkpoints, \d+ loras/);
      // The simulator reports its temp folder, which is on this machine but not the configured one.
      expect(healthy.stdout).toMatch(/! comfyui default\s+ComfyUI writes to .*comfy-sim-.* auto mode will download/);
      expect(healthy.stdout).toMatch(/✓ nats\s+.*JetStream available/);
      expect(healthy.stdout).toMatch(/✓ database\s+/);
      expect(healthy.stdout).toContain('everything needed is there');
      expect(healthy.code).toBe(0);

      const broken = await runCli(['doctor'], {
        cwd: folder.dir,
        env: { CHORUS_VISUAL_COMFYUI_URL: 'http://127.0.0.1:9', CHORUS_VISUAL_NATS_SERVERS: '["nats://127.0.0.1:9"]' },
      });
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/✗ comfyui default\s+http:\/\/127\.0\.0\.1:9 does not answer/);
      expect(broken.stdout).toMatch(/✗ nats\s+cannot connect/);
      expect(broken.stdout.match(/fix: /g)!.length).toBeGreaterThanOrEqual(2);
      expect(broken.stdout).toMatch(/2 problems need fixing/);
    }, 120_000);

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
      await writeFile(
        `${folder.dir}/config/characters/mira.yaml`,
        'id: mira\nname: Mira\nvisual_identity:\n  default_workflow: chorus_wrapped\n  prompt_context: a painter\n',
      );
      await characterLoaded;
      expect(Date.now() - wrote).toBeLessThan(1_000);
      const viaCharacter = await request('generate', { character: 'mira', conversation_id: 'c3', user_request: 'at the easel' });
      expect(viaCharacter.ok).toBe(true);

      // A broken new file and a broken edit of a good one: reported, and the good version serves on.
      const brokenNew = serve.waitFor(/"workflow":"typo".*workflow file not loaded/, 10_000);
      await writeFile(
        `${folder.dir}/workflows/typo.json`,
        JSON.stringify({ ...noModel, '1': { class_type: 'PrimitiveString', inputs: { value: 'PROMPT_PLACEHOLDR' } } }),
      );
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

    it('jobs watch follows a job live; jobs cancel (by short id) says what it did', async () => {
      const fault = (ms: number) => fetch(`${comfyUrl}/_sim/fault`, { method: 'POST', body: JSON.stringify({ name: 'executionDelayMs', args: [ms] }) });
      const env = { CHORUS_VISUAL_COMFYUI_URL: comfyUrl, CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]` };
      // Long enough for `jobs watch` to start on a loaded machine; the simulator's pause is not
      // cut short by the interrupt, so this test runs last in the block.
      await fault(45_000);
      try {
        const reply = await client.request('chorus.visual.cmd.generate', JSON.stringify({ workflow: 'no_model_test', conversation_id: 'c4', prompt: 'slow' }), {
          timeout: 10_000,
        });
        const id = reply.json<{ job: { id: string } }>().job.id;
        const watch = startCli(['jobs', 'watch', id.slice(0, 8)], { cwd: folder.dir, env });
        // Its first line: it has the job and is following it.
        await watch.waitFor(/no_model_test: /, 60_000);

        const cancelled = await runCli(['jobs', 'cancel', id.slice(0, 8)], { cwd: folder.dir, env });
        expect(cancelled.code).toBe(0);
        expect(cancelled.stdout).toMatch(new RegExp(`^(cancel requested for job ${id} \\(now [a-z.]+\\)|job ${id} cancelled)`));

        await watch.waitFor(/state\s+cancelled/, 60_000);
        expect(await watch.exited).toBe(1);
        expect(watch.output()).toMatch(/no_model_test: [a-z.]*cancel/);

        const again = await runCli(['jobs', 'cancel', id], { cwd: folder.dir, env });
        expect(again.stdout).toMatch(/^job .* (cancelled|had already)/);
      } finally {
        await fault(0);
      }
    }, 180_000);
  });
});
