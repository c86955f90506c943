import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkflowLibrary, type WorkflowChange } from '../../src/workflows/index.js';

const graph = (prompt: string) => ({
  '1': { class_type: 'PrimitiveString', inputs: { value: prompt } },
  '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
});

let dir: string;
let library: WorkflowLibrary | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chorus-lib-'));
});
afterEach(async () => {
  library?.close();
  library = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Resolves on the first change that matches, so tests wait on events, not on sleeps. */
async function nextChange(lib: WorkflowLibrary, match: (c: WorkflowChange) => boolean): Promise<{ changed: Promise<WorkflowChange> }> {
  let resolve!: (c: WorkflowChange) => void;
  const changed = new Promise<WorkflowChange>((r) => (resolve = r));
  await lib.watch((change) => {
    if (match(change)) resolve(change);
  });
  // Wrapped: an async function returning a promise would wait for it.
  return { changed };
}

describe('WorkflowLibrary', () => {
  it('loads the good files and reports each broken one by name and reason', async () => {
    await writeFile(join(dir, 'good.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    await writeFile(join(dir, 'bad_json.json'), '{ nope');
    await writeFile(join(dir, 'not_nodes.json'), JSON.stringify({ '1': { inputs: {} } }));
    await writeFile(join(dir, 'readme.txt'), 'ignored');
    library = await WorkflowLibrary.load(dir);
    expect(library.list().map((d) => d.name)).toEqual(['good']);
    expect(library.problems()).toEqual([
      { file: join(dir, 'bad_json.json'), reason: expect.stringMatching(/^not valid JSON/) },
      { file: join(dir, 'not_nodes.json'), reason: expect.stringContaining('"1" is not a node') },
    ]);
    expect(library.get('good').name).toBe('good');
  });

  it("says what is wrong with a file's JSON, and where, without quoting the file", async () => {
    await writeFile(join(dir, 'passwd.json'), 'root:x:0:0:root:/root:/bin/bash\n');
    await writeFile(join(dir, 'colon.json'), '{\n  "1" {}\n}');
    // Two objects one after the other (two exports pasted into one file).
    await writeFile(join(dir, 'twice.json'), '{"1": {}}\n\n{"2": {}}\n');
    // V8 quotes a stretch from the middle of a long file as `..."…"`.
    await writeFile(join(dir, 'middle.json'), `{"1": {}, "2": {}, "3": {}, "4": {}, "5": {}, "6": secret_value}`);
    library = await WorkflowLibrary.load(dir);
    const reasons = Object.fromEntries(library.problems().map((p) => [p.file.slice(dir.length + 1), p.reason]));
    expect(reasons['passwd.json']).toBe("not valid JSON: Unexpected token 'r'");
    expect(reasons['colon.json']).toBe("not valid JSON: Expected ':' after property name (line 2, column 7)");
    expect(reasons['twice.json']).toBe('not valid JSON: Unexpected non-whitespace character after JSON (line 3, column 1)');
    expect(reasons['middle.json']).toBe("not valid JSON: Unexpected token 's'");
  });

  it('throws WORKFLOW_NOT_FOUND with the available names', async () => {
    await writeFile(join(dir, 'a.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    library = await WorkflowLibrary.load(dir);
    expect(() => library!.get('zzz')).toThrow(expect.objectContaining({ code: 'WORKFLOW_NOT_FOUND', details: { workflow: 'zzz', available: ['a'] } }));
  });

  it('refuses a folder that does not exist', async () => {
    await expect(WorkflowLibrary.load(join(dir, 'missing'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('reloads a changed file, picks up new ones, keeps the last good version of a broken edit, forgets removed ones', async () => {
    await writeFile(join(dir, 'live.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    library = await WorkflowLibrary.load(dir);
    const lib = library;

    let change = await nextChange(lib, (c) => c.name === 'live' && c.kind === 'loaded');
    await writeFile(join(dir, 'live.json'), JSON.stringify(graph('masterpiece, __CHORUS_PROMPT__')));
    await change.changed;
    expect(lib.get('live').placeholders[0]).toMatchObject({ token: '__CHORUS_PROMPT__', kind: 'embedded' });

    change = await nextChange(lib, (c) => c.name === 'live' && c.kind === 'failed');
    await writeFile(join(dir, 'live.json'), '{ half saved');
    await change.changed;
    expect(lib.get('live').placeholders[0]?.token).toBe('__CHORUS_PROMPT__');
    expect(lib.problems()).toHaveLength(1);

    change = await nextChange(lib, (c) => c.name === 'fresh' && c.kind === 'loaded');
    await writeFile(join(dir, 'fresh.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    await change.changed;
    expect(lib.has('fresh')).toBe(true);

    change = await nextChange(lib, (c) => c.name === 'fresh' && c.kind === 'removed');
    await unlink(join(dir, 'fresh.json'));
    await change.changed;
    expect(lib.has('fresh')).toBe(false);
  });

  it('loads a workflow stored as a /prompt body ({"prompt": {...}, "client_id"}) as its prompt', async () => {
    await writeFile(join(dir, 'wrapped.json'), JSON.stringify({ prompt: graph('PROMPT_PLACEHOLDER'), client_id: 'chorus', extra_data: {} }));
    library = await WorkflowLibrary.load(dir);
    expect(Object.keys(library.get('wrapped').graph)).toEqual(['1', '2']);
    expect(library.problems()).toEqual([]);
  });

  it('keeps out a graph that cannot run, and get() answers WORKFLOW_INVALID for it with the reason', async () => {
    await writeFile(join(dir, 'typo.json'), JSON.stringify(graph('PROMPT_PLACEHOLDR')));
    library = await WorkflowLibrary.load(dir);
    expect(library.list()).toEqual([]);
    expect(library.problems()).toEqual([
      expect.objectContaining({
        file: join(dir, 'typo.json'),
        reason: expect.stringContaining('misspelling of PROMPT_PLACEHOLDER'),
        issues: expect.arrayContaining([expect.objectContaining({ rule: 'misspelt_placeholder' })]),
      }),
    ]);
    expect(() => library!.get('typo')).toThrow(expect.objectContaining({ code: 'WORKFLOW_INVALID', message: expect.stringContaining('PROMPT_PLACEHOLDER') }));
    expect(() => library!.get('typoo')).toThrow(expect.objectContaining({ code: 'WORKFLOW_NOT_FOUND' }));
  });

  it('matches a requested name exactly to a file name without .json: a dot in a name is part of it', async () => {
    await writeFile(join(dir, 'no_model_test.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    await writeFile(join(dir, 'a.b.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    library = await WorkflowLibrary.load(dir);
    expect(library.list().map((d) => d.name)).toEqual(['a.b', 'no_model_test']);
    expect(library.get('a.b').name).toBe('a.b');
    expect(library.has('a.b')).toBe(true);
    for (const name of ['no_model_test.v2', 'no_model_test.evil', 'a', 'a.b.c']) {
      expect(library.has(name), name).toBe(false);
      expect(() => library!.get(name), name).toThrow(
        expect.objectContaining({ code: 'WORKFLOW_NOT_FOUND', details: { workflow: name, available: ['a.b', 'no_model_test'] } }),
      );
    }
    // The file's name is not the workflow's: asked for as "x.json", the answer points at "x".
    expect(library.has('no_model_test.json')).toBe(false);
    expect(() => library!.get('no_model_test.json')).toThrow(
      expect.objectContaining({
        code: 'WORKFLOW_NOT_FOUND',
        suggestion: 'did you mean "no_model_test"? A workflow is named by its file\'s name without ".json".',
      }),
    );
  });

  it('reports a file whose name no request could use as unusable, with the reason, and never offers it', async () => {
    await writeFile(join(dir, 'good.json'), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    for (const name of ['café', 'my workflow', '-dash', 'two..dots']) await writeFile(join(dir, `${name}.json`), JSON.stringify(graph('PROMPT_PLACEHOLDER')));
    library = await WorkflowLibrary.load(dir);
    expect(library.list().map((d) => d.name)).toEqual(['good']);
    const reasons = Object.fromEntries(library.problems().map((p) => [p.file.slice(dir.length + 1), p.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['-dash.json', 'café.json', 'my workflow.json', 'two..dots.json']);
    expect(reasons['café.json']).toBe(
      '"café" cannot be a workflow name: it contains "é"; rename the file (a workflow name is 1-128 letters (a-z, A-Z), digits, "_", "-" and ".", starting with a letter or digit, no "..")',
    );
    expect(reasons['my workflow.json']).toMatch(/^"my workflow" cannot be a workflow name: it contains " "; rename the file/);
    expect(reasons['-dash.json']).toMatch(/^"-dash" cannot be a workflow name: it does not start with a letter \(a-z, A-Z\) or digit; rename the file/);
    expect(reasons['two..dots.json']).toMatch(/^"two\.\.dots" cannot be a workflow name: it contains "\.\."; rename the file/);
    // Not offered as a near miss of a name that is close to it.
    const miss = (() => {
      try {
        return library!.get('cafe');
      } catch (error) {
        return error as { code: string; suggestion?: string };
      }
    })();
    expect(miss).toMatchObject({ code: 'WORKFLOW_NOT_FOUND' });
    expect((miss as { suggestion?: string }).suggestion).not.toMatch(/did you mean/);
    expect(() => library!.get('dash')).toThrow(expect.objectContaining({ code: 'WORKFLOW_NOT_FOUND', details: { workflow: 'dash', available: ['good'] } }));
  });
});
