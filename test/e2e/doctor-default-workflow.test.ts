/**
 * `chorus-visual doctor` against a running simulator, from a user's folder: with the shipped
 * workflows and characters everything needed is there (exit 0); a character whose default
 * workflow is missing, or whose default workflow's file does not load, is a problem to fix
 * (exit 1), named with the file and what to change — not a warning that passes.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { makeUserFolder, runCli, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
let sim: SimulatorHandle;
let env: Record<string, string>;

beforeAll(async () => {
  folder = await makeUserFolder();
  sim = await startSimulator({ outputDir: join(folder.dir, 'comfy-output'), stepDelayMs: 0 });
  env = { CHORUS_VISUAL_COMFYUI_URL: sim.url, CHORUS_VISUAL_NATS_ENABLED: 'false' };
});
afterAll(async () => {
  await sim?.close();
  await folder?.remove();
});

interface Report {
  ok: boolean;
  findings: Array<{ level: string; subject: string; message: string; fix?: string }>;
}

async function doctor(): Promise<{ code: number; report: Report }> {
  const result = await runCli(['doctor', '--json'], { cwd: folder.dir, env });
  return { code: result.code, report: JSON.parse(result.stdout) as Report };
}

describe("doctor and a character's default workflow", () => {
  it('fails (exit 1) when it is missing or does not load, saying which character and what to change', async () => {
    const healthy = await doctor();
    expect(healthy.report.findings.filter((f) => f.level === 'fail')).toEqual([]);
    expect(healthy.code).toBe(0);

    const characters = join(folder.dir, 'config', 'characters');
    const character = (id: string, workflow: string) =>
      writeFile(join(characters, `${id}.yaml`), `id: ${id}\nname: ${id}\nvisual_identity:\n  default_workflow: ${workflow}\n  prompt_context: a painter\n`);
    await character('mira', 'nova_portrat');
    await character('bo', 'unfinished');
    await writeFile(join(folder.dir, 'workflows', 'unfinished.json'), JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: {} } }));
    try {
      const broken = await doctor();
      expect(broken.code).toBe(1);
      expect(broken.report.ok).toBe(false);
      const failed = broken.report.findings.filter((f) => f.level === 'fail');
      expect(failed).toEqual([
        {
          level: 'fail',
          subject: 'characters',
          message: `${join(characters, 'bo.yaml')}: visual_identity.default_workflow "unfinished" is ${join(folder.dir, 'workflows', 'unfinished.json')}, which does not load: the character cannot generate unless a request names another workflow`,
          fix: 'fix that file (`chorus-visual workflows validate unfinished` lists every problem), or set visual_identity.default_workflow to another workflow',
        },
        {
          level: 'fail',
          subject: 'characters',
          message: `${join(characters, 'mira.yaml')}: visual_identity.default_workflow "nova_portrat" is not in ${join(folder.dir, 'workflows')}: the character cannot generate unless a request names another workflow`,
          fix: expect.stringMatching(
            /^did you mean "nova_portrait"\? set visual_identity\.default_workflow to one of alex_portrait, .*nova_portrait, or add nova_portrat\.json to /,
          ),
        },
      ]);
    } finally {
      await Promise.all([rm(join(characters, 'mira.yaml')), rm(join(characters, 'bo.yaml')), rm(join(folder.dir, 'workflows', 'unfinished.json'))]);
    }
  }, 120_000);
});
