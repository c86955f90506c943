/**
 * Vitest global setup: builds dist/ from the source under test before any test starts, so the
 * tests that launch bin/chorus-visual.js (the compiled CLI, as a user runs it) never run a
 * stale build. About a second with esbuild.
 */
import { buildDist } from '../../scripts/build.js';

export default async function setup(): Promise<void> {
  await buildDist();
}
