/**
 * `npm run build` (also run by `npm ci` through `prepare`): the service as bin/chorus-visual.js
 * runs it. src/cli.ts and everything it imports, bundled by esbuild into dist/ as ES modules;
 * each lazily imported command or module becomes its own chunk, so `simulate` still does not
 * load the database and `serve` does not load sharp until the first thumbnail. Type checking
 * is `npm run typecheck`'s job (esbuild only strips types).
 *
 * Why a bundle and not tsc's one file per module: Node 20 resolves, reads and compiles every
 * ES module file on its own, and kysely alone is 263 files; bundled, `serve` loads a handful of
 * chunks (BENCHMARKS.md, "Start"). Packages stay in node_modules when they cannot live in a
 * bundle: native addons and anything that finds files or optional peers at run time.
 *
 * Files src/ reads beside its modules (`new URL('./public/', import.meta.url)`) are copied
 * where the chunks look for them: every chunk sits directly in dist/.
 */
import { cp, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const repoRoot = resolve(import.meta.dirname, '..');
const outdir = join(repoRoot, 'dist');

/** Native addons (better-sqlite3, sharp, pg's optional pg-native) and the --inspect-only inspector. */
const external = ['better-sqlite3', 'sharp', 'pg', '@statelyai/inspect'];

/** Read at run time relative to the module that reads them, so beside the chunks. */
const assets: Array<{ from: string; to: string }> = [
  { from: 'src/http/public', to: 'public' },
  { from: 'src/simulator/data', to: 'data' },
];

export async function buildDist(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of external) if (!(name in pkg.dependencies)) throw new Error(`build: external ${name} is not a dependency`);
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [join(repoRoot, 'src', 'cli.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    sourcemap: 'linked',
    logLevel: 'warning',
    // The CommonJS packages in the bundle (undici, ws, nats, pino…) call require() for Node's own modules.
    banner: { js: "import { createRequire as __chorusCreateRequire } from 'node:module'; const require = __chorusCreateRequire(import.meta.url);" },
  });
  for (const { from, to } of assets) await cp(join(repoRoot, from), join(outdir, to), { recursive: true });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await buildDist();
}
