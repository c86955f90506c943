import { describe, expect, it } from 'vitest';
import { safeId } from '../../src/commands/command-schemas.js';
import { isSafeName } from '../../src/contracts/safe-name.js';
import { workflowNameProblem } from '../../src/contracts/workflow-name.js';
import { assertSafeId } from '../../src/files/safe-path-guard.js';

const names = ['a', 'A9', '9', 'conv-1_a.b', 'x'.repeat(128), 'x'.repeat(129), '', '.a', '_a', '-a', 'a..b', 'a/b', 'a b', 'é', 'a\\b', 'a\u0000', '..', 'a.'];

describe('one name rule for ids and workflow names', () => {
  it.each(names)('the command schemas, the workflow library and the path guard agree on %j', (name) => {
    const expected = isSafeName(name);
    expect(safeId.safeParse(name).success).toBe(expected);
    expect(workflowNameProblem(name) === undefined).toBe(expected);
    let guardAccepts = true;
    try {
      assertSafeId('id', name);
    } catch {
      guardAccepts = false;
    }
    expect(guardAccepts).toBe(expected);
  });

  it('is 1-128 letters, digits, "_", "-" and ".", starting with a letter or digit, no ".."', () => {
    expect(names.filter(isSafeName)).toEqual(['a', 'A9', '9', 'conv-1_a.b', 'x'.repeat(128), 'a.']);
  });
});
