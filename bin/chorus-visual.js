#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`, which `npm ci` runs through `prepare`):
// no TypeScript loader at run time. A missing build is said plainly, not as a stack.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('error INTERNAL: chorus-visual is not built (dist/cli.js is missing)\nsuggestion: run `npm run build` in the chorus-visual folder\n');
  process.exit(1);
}
await import(cli.href);
