/**
 * Every command shown in a fenced `sh` block of README.md and docs/*.md is either run here,
 * literally (through sh, from a user's folder, `npx chorus-visual` being bin/chorus-visual.js),
 * with only placeholders filled in (`<job-id>`, `[name]`, ports), or named in `elsewhere`
 * with the test that runs it or why it cannot run here. A new command in the docs that is in
 * neither list fails this test.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsTestServer } from '../support/nats-server.js';
import { makeUserFolder, repoRoot, type UserFolder } from '../support/user-folder.js';

const bin = join(repoRoot, 'bin', 'chorus-visual.js');

/** Commands not run by this file, each with where it is run or why it cannot be. */
const elsewhere: Array<[RegExp, string]> = [
  [/^npm ci && npm run demo$/, 'demo: test/integration/cli-commands.test.ts runs `chorus-visual demo`; npm ci needs the network'],
  [/^npm test$/, 'the test suite itself'],
  [
    /^CHORUS_VISUAL_DATABASE_URL=postgres:\/\/chorus:secret@db:5432\/chorus /,
    'needs hosts db and nats-1..3; several instances on PostgreSQL: test/integration/multi-instance-*.test.ts',
  ],
];

interface DocCommand {
  file: string;
  command: string;
}

async function documentedCommands(): Promise<DocCommand[]> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const commands: DocCommand[] = [];
  for (const file of files) {
    const text = await readFile(join(repoRoot, file), 'utf8');
    for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
      const joined = block[1]!.replace(/\\\n\s*/g, '');
      for (const line of joined.split('\n')) {
        const command = line.replace(/\s+#.*$/, '').trim();
        if (command && !command.startsWith('#')) commands.push({ file, command });
      }
    }
  }
  return commands;
}

let folder: UserFolder;
let nats: NatsTestServer;
let env: Record<string, string>;
const ran = new Set<string>();

/** The documented command as a shell runs it, with placeholders filled. */
function shell(command: string, fill: Record<string, string> = {}): string {
  let line = command.replace(/^npx chorus-visual /, `node ${bin} `).replace(/^chorus-visual /, `node ${bin} `);
  for (const [from, to] of Object.entries(fill)) line = line.split(from).join(to);
  // Optional parts: `[--state failed]` → `--state failed`.
  return line.replace(/\[([^\]]+)\]/g, '$1');
}

function sh(command: string, fill: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  ran.add(command);
  return new Promise((resolve) => {
    execFile('sh', ['-c', shell(command, fill)], { cwd: folder.dir, env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A long-running command (serve, simulate): started, waited for, and stopped by the caller. */
async function background(command: string, ready: RegExp, fill: Record<string, string> = {}) {
  ran.add(command);
  const child = spawn('sh', ['-c', `exec ${shell(command, fill)}`], { cwd: folder.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = once(child, 'exit');
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = output.match(ready);
      if (found) resolve(found);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`${command} exited before ${ready}:\n${output}`)));
  });
  return {
    match,
    stop: async () => {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

beforeAll(async () => {
  folder = await makeUserFolder();
  nats = await NatsTestServer.start();
  env = { CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]`, CHORUS_VISUAL_HTTP_PORT: '0' };
}, 60_000);
afterAll(async () => {
  await nats?.cleanup();
  await folder?.remove();
});

describe('the commands in README.md and docs/', () => {
  it('runs each documented command as written, placeholders filled', async () => {
    const simulator = await background('npx chorus-visual simulate --port 8188', /listening on (http:\/\/\S+)/, { '--port 8188': '--port 0' });
    const comfy = simulator.match[1]!;
    env['CHORUS_VISUAL_COMFYUI_URL'] = comfy;
    try {
      const character = await sh('npx chorus-visual generate --character nova --conversation c1 "send me a selfie of you sketching"');
      expect(character.stdout).toMatch(/^image: .*\/conversations\/c1\/images\/.*\.png$/m);
      const plain = await sh('npx chorus-visual generate --workflow no_model_test --conversation c1 --prompt "a lighthouse at dusk" --json');
      const id = (JSON.parse(plain.stdout) as { id: string; state: string }).id;
      const fill = { '<job-id>': id };

      expect((await sh('npx chorus-visual jobs list [--state failed] [--conversation c1]')).stdout).toBe('no jobs\n');
      expect((await sh('npx chorus-visual jobs show <job-id>', fill)).stdout).toMatch(/state\s+completed/);
      expect((await sh('npx chorus-visual jobs show <job-id> --debug', fill)).stdout).toMatch(/debug:\n\s+workflow_used: no_model_test/);
      expect(JSON.parse((await sh('npx chorus-visual jobs show <job-id> --json', fill)).stdout).job.id).toBe(id);
      expect((await sh('npx chorus-visual jobs watch <job-id>', fill)).code).toBe(0);
      expect((await sh('npx chorus-visual workflows list')).stdout).toMatch(/^no_model_test\s+image/m);
      expect((await sh('chorus-visual workflows list')).code).toBe(0);
      expect(
        (await sh('npx chorus-visual workflows validate [name] --backend http://127.0.0.1:8188', { '[name]': 'no_model_test', 'http://127.0.0.1:8188': comfy }))
          .stdout,
      ).toMatch(/✓ no_model_test .* against/);
      // docs/workflows.md's own workflow: made as the page says, from a shipped one.
      await cp(join(folder.dir, 'workflows', 'generic_portrait.json'), join(folder.dir, 'workflows', 'mira_portrait.json'));
      expect((await sh('chorus-visual workflows validate mira_portrait')).stdout).toMatch(/✓ mira_portrait \(image\), structure only/);
      expect((await sh('chorus-visual workflows validate mira_portrait --backend http://127.0.0.1:8188', { 'http://127.0.0.1:8188': comfy })).stdout).toMatch(
        /mira_portrait \(image\) against/,
      );
      expect((await sh('npx chorus-visual doctor')).stdout).toMatch(/everything needed is there/);

      const serve = await background('npx chorus-visual serve', /chorus-visual listening/);
      expect(await serve.stop()).toBe(0);
      await writeFile(join(folder.dir, 'my.yaml'), `comfyui:\n  url: "${comfy}"\n`);
      const instance = await background(
        'npx chorus-visual serve --config my.yaml --instance-id gpu-box-1',
        /"instance_id":"gpu-box-1".*chorus-visual listening/,
      );
      try {
        expect((await sh('npx chorus-visual jobs cancel <job-id>', fill)).stdout).toMatch(/had already completed; nothing to cancel/);
        expect((await sh('npx chorus-visual jobs regenerate <job-id> [--seed N]', { ...fill, '--seed N': '--seed 7' })).stdout).toMatch(/regenerated from/);
      } finally {
        expect(await instance.stop()).toBe(0);
      }
    } finally {
      await simulator.stop();
    }

    const documented = await documentedCommands();
    const missing = documented.filter(({ command }) => !ran.has(command) && !elsewhere.some(([pattern]) => pattern.test(command)));
    expect(missing).toEqual([]);
  }, 900_000);
});
