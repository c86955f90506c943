import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { replayTranscript } from '../../src/simulator/transcript-replayer.js';
import { encodePng } from '../../src/simulator/sim-image.js';

const transcripts = join(import.meta.dirname, '..', 'fixtures', 'comfyui-transcripts');

// Scenarios whose outcome does not hinge on how long a real node takes (04, 11, 16 interrupt or
// inspect the queue while a 14-second blur runs; 13-15 are measurements).
const scenarios = [
  '01-simple-success',
  '02-cached-rerun',
  '03-chain-preview-batch',
  '05-validation-errors',
  '06-runtime-error',
  '07-feature-flags-and-binary-frames',
  '09-multi-client-routing',
  '12-object-info-and-misc',
  '18-media-outputs',
];

/** Known, deliberate differences: /view?preview=jpeg is served as PNG (no JPEG encoder here). */
const knownDeviations = [/preview=jpeg;50: content-type image\/png != recorded image\/jpeg/];

let sim: SimulatorHandle | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('simulator replays the recorded ComfyUI transcripts', () => {
  for (const scenario of scenarios) {
    it(`matches ${scenario} in status codes, content types, body shapes and message order`, async () => {
      sim = await startSimulator({ stepDelayMs: 1, nodeDelayMs: 0 });
      const mismatches = await replayTranscript(join(transcripts, `${scenario}.jsonl`), sim.url, {
        uploadBytes: (name) => (name.includes('broken') ? Buffer.from('this is not an image') : encodePng(4, 4, Buffer.alloc(64, 200))),
      });
      expect(mismatches.filter((m) => !knownDeviations.some((d) => d.test(m)))).toEqual([]);
    });
  }

  // Interrupted mid-node: how many ticks happen first depends on timing, so runs of progress
  // messages count as one step there (types, order and everything else still compared).
  for (const scenario of ['08-interrupt-mid-node-and-reconnect', '17-broadcast-text-and-interrupt']) {
    it(`matches ${scenario} with progress runs collapsed`, async () => {
      sim = await startSimulator({ stepDelayMs: 20, nodeDelayMs: 0 });
      const mismatches = await replayTranscript(join(transcripts, `${scenario}.jsonl`), sim.url, { collapseProgress: true });
      expect(mismatches).toEqual([]);
    });
  }

  it('reports differences when the server does not behave like the recording', async () => {
    sim = await startSimulator({ stepDelayMs: 1, nodeDelayMs: 0 });
    sim.faults.failNodeClass('SaveImage');
    const mismatches = await replayTranscript(join(transcripts, '01-simple-success.jsonl'), sim.url, { waitTimeoutMs: 200 });
    expect(mismatches.some((m) => m.includes('message order'))).toBe(true);
  });
});
