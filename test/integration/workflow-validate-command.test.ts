import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { run } from '../../src/cli/workflows-command.js';

const shipped = new URL('../../workflows', import.meta.url).pathname;

function capture() {
  let text = '';
  return {
    write: (s: string) => (text += s),
    get text() {
      return text;
    },
  };
}

async function runCommand(argv: string[]) {
  const out = capture();
  const err = capture();
  const code = await run(argv, out, err);
  return { code, out: out.text, err: err.text };
}

let simulator: SimulatorHandle;
let dir: string;

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
});
afterAll(async () => {
  await simulator.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chorus-wf-cmd-'));
  await cp(shipped, dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('chorus-visual workflows validate --backend <simulator>', () => {
  it('passes the shipped workflows', async () => {
    const { code, out } = await runCommand(['validate', '--dir', dir, '--backend', simulator.url]);
    expect(out).toContain('✓ nova_portrait (image) against');
    expect(out).toContain('✓ no_model_test (image)');
    expect(out).toContain('all workflows valid');
    expect(code).toBe(0);
  });

  it('catches a LoRA the server does not have and suggests the closest one', async () => {
    const path = join(dir, 'nova_portrait.json');
    const graph = JSON.parse(await readFile(path, 'utf8'));
    graph['4'].inputs.lora_name = 'nova_style_flux_v2.safetensors';
    await writeFile(path, JSON.stringify(graph));

    const { code, out } = await runCommand(['validate', 'nova_portrait', '--dir', dir, '--backend', simulator.url]);
    expect(code).toBe(1);
    expect(out).toContain('✗ nova_portrait');
    expect(out).toMatch(/error \[value_not_in_list\] node 4 \(LoraLoader\), input "lora_name": "nova_style_flux_v2.safetensors" is not available/);
    expect(out).toContain('suggestion: did you mean "nova_style_flux.safetensors"?');
    expect(out).toContain('validation failed');
  });

  it('with --characters, checks character LoRAs on the backend and default workflows', async () => {
    const chars = join(dir, 'characters');
    await mkdir(chars);
    await writeFile(
      join(chars, 'mira.yaml'),
      'id: mira\nname: Mira\nvisual_identity:\n  default_workflow: generic_portrait\n  prompt_context: red hair\n  loras: [{ name: detail_tweaker.safetensors, strength: 0.5 }]\n',
    );
    await writeFile(join(chars, 'lost.yaml'), 'id: lost\nname: Lost\nvisual_identity:\n  default_workflow: no_such_workflow\n  prompt_context: x\n');
    const { code, out } = await runCommand(['validate', '--dir', dir, '--characters', chars, '--backend', simulator.url]);
    expect(code).toBe(1);
    expect(out).toContain('default_workflow "no_such_workflow" is not in the workflow library');
    expect(out).toMatch(/✗ generic_portrait[^\n]*\n.*\n\s+error \[value_not_in_list\] [^\n]*character LoRA "detail_tweaker.safetensors"/);
    expect(out).toContain('did you mean "detail_tweaker_xl.safetensors"?');
  });

  it('validates structure only without a backend, and reports broken files by name', async () => {
    await writeFile(join(dir, 'broken.json'), '{ "1": { "class_type": ');
    const { code, out } = await runCommand(['validate', '--dir', dir]);
    expect(code).toBe(1);
    expect(out).toMatch(/✗ .*broken\.json\n\s+not valid JSON/);
    expect(out).toContain('✓ alex_portrait (image), structure only');
  });

  it('says COMFY_UNAVAILABLE clearly when the backend is unreachable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const { code, err } = await runCommand(['validate', '--dir', dir, '--backend', `http://127.0.0.1:${port}`, '--timeout', '2000']);
    expect(code).toBe(1);
    expect(err).toMatch(/^error COMFY_UNAVAILABLE: Cannot read http:\/\/127\.0\.0\.1:\d+\/object_info/);
  });

  it('names the available workflows for an unknown name, and lists them with their facts', async () => {
    const missing = await runCommand(['validate', 'nope', '--dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('available: alex_portrait, generic_portrait');
    const list = await runCommand(['list', '--dir', dir]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/nova_portrait\s+image\s+flux1-dev\.safetensors\s+loras: nova_style_flux\.safetensors@0\.8\n/);
    expect(list.out).toMatch(/no_model_test\s+image\s+\(no model\)/);
  });
});
