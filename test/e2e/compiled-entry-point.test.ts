/**
 * The shipped entry point runs compiled JavaScript, and so does the Docker image. No Docker
 * engine is at hand, so the image is checked by reading the Dockerfile and by running its
 * file set: the runtime stage's COPY lines are replayed into an empty folder (dist/ from the
 * build this test run made, node_modules linked), with no src/, no machines/ and no loader,
 * and `simulate` and `serve` are launched from there as separate processes until serve is
 * ready (database, NATS, backend) and serves the inspector's files from dist/.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsTestServer } from '../support/nats-server.js';
import { repoRoot, runCli, startCli, type CliProcess } from '../support/user-folder.js';

interface Stage {
  name: string | undefined;
  /** Each instruction with its continuation lines joined: [keyword, rest]. */
  instructions: Array<[string, string]>;
}

function dockerStages(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  for (const line of lines) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword!.toUpperCase() === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1], instructions: [] });
    stages.at(-1)!.instructions.push([keyword!.toUpperCase(), args]);
  }
  return stages;
}

/** `COPY [--from=x] a b ./dest` → { from, sources, dest }. */
function copies(stage: Stage): Array<{ from: string | undefined; sources: string[]; dest: string }> {
  return stage.instructions
    .filter(([keyword]) => keyword === 'COPY')
    .map(([, args]) => {
      const words = args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });
}

const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
const stages = dockerStages(dockerfile);
const runtime = stages.at(-1)!;

describe('the Dockerfile', () => {
  it('runs bin/chorus-visual.js, which runs the compiled dist/cli.js, not a TypeScript loader', async () => {
    const entrypoint = runtime.instructions.find(([keyword]) => keyword === 'ENTRYPOINT')?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(['node', 'bin/chorus-visual.js']);
    expect(JSON.parse(runtime.instructions.find(([keyword]) => keyword === 'CMD')![1])).toEqual(['serve']);
    const bin = await readFile(join(repoRoot, 'bin', 'chorus-visual.js'), 'utf8');
    expect(bin).toMatch(/new URL\('\.\.\/dist\/cli\.js', import\.meta\.url\)/);
    expect(bin).not.toMatch(/tsx|\.ts['"]/);
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.bin['chorus-visual']).toBe('bin/chorus-visual.js');
    // `npm ci --omit=dev` (the image) keeps no TypeScript loader or compiler.
    for (const tool of ['tsx', 'typescript', 'esbuild']) {
      expect(pkg.dependencies[tool]).toBeUndefined();
      expect(pkg.devDependencies[tool]).toBeDefined();
    }
    // A fresh clone's `npm ci` builds dist/; the README's npm scripts run it.
    expect(pkg.scripts['prepare']).toBe('npm run build');
    for (const script of ['serve', 'demo', 'simulate']) expect(pkg.scripts[script]).toBe(`node bin/chorus-visual.js ${script}`);
  });

  it('copies only paths that exist: from the repository (and not .dockerignored), or made by its build stage', async () => {
    const ignored = (await readFile(join(repoRoot, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const build = stages.find((stage) => stage.name === 'build')!;
    const buildRuns = build.instructions.filter(([keyword]) => keyword === 'RUN').map(([, args]) => args);
    expect(buildRuns.some((run) => /\bnpm ci\b/.test(run) && /npm prune --omit=dev/.test(run))).toBe(true);
    const builtInStage = new Set(copies(build).flatMap((copy) => copy.sources.map((source) => source.replace(/\/$/, ''))));
    // What the build stage's `npm ci` makes: node_modules, and dist/ through `prepare`.
    builtInStage.add('node_modules').add('dist');
    for (const stage of stages) {
      for (const copy of copies(stage)) {
        for (const source of copy.sources) {
          if (copy.from === undefined) {
            expect(existsSync(join(repoRoot, source)), `${source} exists`).toBe(true);
            expect(ignored, `${source} is not .dockerignored`).not.toContain(source);
          } else {
            expect(copy.from).toBe('build');
            expect(builtInStage, `${source} is in the build stage`).toContain(source.replace(/^\/app\//, ''));
          }
        }
      }
    }
  });
});

describe("the image's files, launched as the image launches them", () => {
  let image: string;
  let nats: NatsTestServer;
  let simulator: CliProcess;
  let serve: CliProcess | undefined;

  beforeAll(async () => {
    image = await mkdtemp(join(tmpdir(), 'cv-image-'));
    for (const copy of copies(runtime)) {
      for (const source of copy.sources) {
        const name = source.replace(/^\/app\//, '');
        const dest = copy.sources.length === 1 && copy.dest !== './' ? join(image, copy.dest) : join(image, name);
        // node_modules: linked, not copied (the image's is the production subset of it).
        if (name === 'node_modules') await symlink(join(repoRoot, 'node_modules'), dest);
        else await cp(join(repoRoot, name), dest, { recursive: true });
      }
    }
    expect(existsSync(join(image, 'src'))).toBe(false);
    nats = await NatsTestServer.start();
    simulator = startCli(['simulate', '--port', '0', '--step-ms', '1'], { cwd: image, bin: join(image, 'bin', 'chorus-visual.js') });
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await simulator?.stop();
    await nats?.cleanup();
    await rm(image, { recursive: true, force: true });
  }, 60_000);

  it('serve becomes ready: database open, NATS and the backend connected, the inspector served from dist/', async () => {
    const comfyUrl = (await simulator.waitFor(/listening on (http:\/\/\S+)/, 30_000))[1]!;
    const bin = join(image, 'bin', 'chorus-visual.js');
    const version = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [bin, '--version'], { cwd: image }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(version).toMatch(/^chorus-visual \d+\.\d+\.\d+\n$/);

    const env = {
      CHORUS_VISUAL_COMFYUI_URL: comfyUrl,
      CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]`,
      CHORUS_VISUAL_DATA_DIR: join(image, 'data'),
      CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(image, 'data', 'chorus-visual.db')}`,
    };
    serve = startCli(['serve', '--http-port', '0'], { cwd: image, bin, env });
    await serve.waitFor(/NATS commands and events ready/, 30_000);
    const listening = JSON.parse((await serve.waitFor(/^\{.*"chorus-visual listening".*$/, 30_000))[0]) as { http: string };

    const ready = await fetch(`${listening.http}/readyz`);
    const report = (await ready.json()) as { checks: { database: boolean; nats: { connected: boolean }; backends: Array<{ healthy: boolean }> } };
    expect(ready.status).toBe(200);
    expect(report.checks).toMatchObject({ database: true, nats: { connected: true }, backends: [{ healthy: true }] });
    const page = await fetch(`${listening.http}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);

    // A job through it, sent by the CLI as the README does: the compiled service runs it to
    // its file and sidecar in the image's data folder.
    const generated = await runCli(['generate', '--workflow', 'no_model_test', '--conversation', 'image', '--prompt', '--json', 'a lighthouse'], {
      cwd: image,
      env,
    });
    expect(generated.code, generated.stderr).toBe(0);
    const job = JSON.parse(generated.stdout) as { state: string; result: { files: Array<{ absolutePath: string }>; metadataPath: string } };
    expect(job.state).toBe('completed');
    expect(job.result.files[0]!.absolutePath.startsWith(join(image, 'data'))).toBe(true);
    expect(existsSync(job.result.files[0]!.absolutePath)).toBe(true);
    expect(existsSync(join(image, 'data', job.result.metadataPath))).toBe(true);

    expect(await serve.stop()).toBe(0);
    serve = undefined;
  }, 90_000);
});
