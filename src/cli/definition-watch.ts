/**
 * `serve` follows workflows/ and config/characters/: new, edited and removed files take
 * effect as they are saved (chokidar, ~50 ms after the last write). Every file that cannot
 * be used is logged as a warning at start and whenever it changes; a broken edit never
 * replaces the last good version (the library and registry keep it).
 */
import { CharacterRegistry } from '../characters/index.js';
import { WorkflowLibrary } from '../workflows/index.js';
import type { JobRuntime } from '../app/job-runtime.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';

type Logger = Pick<StructuredLogger, 'info' | 'warn'>;

export async function watchDefinitions(runtime: Pick<JobRuntime, 'workflows' | 'characters'>, logger: Logger): Promise<() => void> {
  for (const problem of runtime.workflows.problems?.() ?? []) logger.warn({ file: problem.file, reason: problem.reason }, 'workflow file not loaded');
  const { characters, workflows } = runtime;
  if (characters instanceof CharacterRegistry) {
    for (const problem of characters.problems()) logger.warn({ file: problem.file, reason: problem.reason }, 'character file problem');
  }
  if (workflows instanceof WorkflowLibrary) {
    await workflows.watch((change) => {
      if (change.kind === 'failed') {
        logger.warn({ workflow: change.name, file: change.file, reason: change.reason, last_good_kept: change.kept }, 'workflow file not loaded');
      } else {
        logger.info({ workflow: change.name, file: change.file }, `workflow ${change.kind}`);
      }
    });
  }
  if (!(characters instanceof CharacterRegistry)) return () => undefined;
  await characters.watch((change) => {
    if (change.kind === 'failed') {
      logger.warn({ file: change.file, reason: change.reason, last_good_kept: change.kept }, 'character file not loaded');
    } else {
      logger.info({ character: change.id, file: change.file }, `character ${change.kind}`);
    }
  });
  return () => characters.close();
}
