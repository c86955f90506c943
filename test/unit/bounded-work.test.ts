/**
 * Bounded work: inputs that used to crash or run away are refused cleanly, with the limit named.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../../src/comfy/backend-port.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { assertWithinLimits } from '../../src/jobs/parameter-limits.js';
import { validateStructure, WorkflowLibrary } from '../../src/workflows/index.js';

/** EmptyImage → n ImageInvert nodes in a chain → SaveImage, with the prompt placeholder on the first node. */
function chain(n: number, closeTheLoop = false): ApiPrompt {
  const graph: ApiPrompt = { '0': { class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: closeTheLoop ? [String(n), 0] : 'x' } } };
  for (let i = 1; i <= n; i++) graph[String(i)] = { class_type: 'ImageInvert', inputs: { image: [String(i - 1), 0] } };
  graph['save'] = { class_type: 'SaveImage', inputs: { images: [String(n), 0], filename_prefix: 'c' } };
  return graph;
}

describe('graph validation is iterative', () => {
  it('a 100,000-node chain validates without overflowing the stack', () => {
    const report = validateStructure(chain(100_000));
    expect(report.errors.filter((e) => e.rule === 'cycle')).toEqual([]);
  });

  it('a 100,000-node cycle is found and reported, not a crash', () => {
    const report = validateStructure(chain(100_000, true));
    const cycle = report.errors.find((e) => e.rule === 'cycle');
    expect(cycle?.message).toMatch(/cycle/);
  });
});

describe('workflow file limits', () => {
  it('a workflow with more nodes than limits.max_workflow_nodes, or bigger than max_workflow_bytes, is not loaded; the reason names the limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cv-bounded-'));
    try {
      await writeFile(join(dir, 'huge.json'), JSON.stringify(chain(20_000)));
      await writeFile(join(dir, 'small.json'), JSON.stringify(chain(3)));
      const library = await WorkflowLibrary.load(dir, { maxNodes: 1_000, maxBytes: 400_000 });
      expect(library.list().map((d) => d.name)).toEqual(['small']);
      expect(library.problems()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/max_workflow_bytes \(400000\)/) })]);
      const byNodes = await WorkflowLibrary.load(dir, { maxNodes: 1_000, maxBytes: 16 * 1024 ** 2 });
      expect(byNodes.problems()).toEqual([
        expect.objectContaining({ reason: expect.stringMatching(/20002 nodes, more than limits.max_workflow_nodes \(1000\)/) }),
      ]);
      expect(() => byNodes.get('huge')).toThrow(expect.objectContaining({ code: 'WORKFLOW_INVALID' }));
      library.close();
      byNodes.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parameter limits at admission', () => {
  const limits = parseServiceConfig({}).limits;

  it('defaults fit a large GPU: 4096×4096, 150 steps', () => {
    expect(limits).toMatchObject({ max_width: 4096, max_height: 4096, max_steps: 150 });
    expect(() => assertWithinLimits({ width: 4096, height: 4096, steps: 150 }, limits)).not.toThrow();
  });

  it('beyond them: INVALID_COMMAND naming each field and its limit', () => {
    let error: unknown;
    try {
      assertWithinLimits({ width: 16384, height: 1024, steps: 500 }, limits);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      code: 'INVALID_COMMAND',
      details: [
        { path: 'parameters.width', message: '16384 is more than limits.max_width (4096)', limit: 4096 },
        { path: 'parameters.steps', message: '500 is more than limits.max_steps (150)', limit: 150 },
      ],
    });
  });

  it('the limits are configurable', () => {
    const big = parseServiceConfig({ limits: { max_width: 8192, max_steps: 300 } }).limits;
    expect(() => assertWithinLimits({ width: 8192, steps: 300 }, big)).not.toThrow();
  });
});
