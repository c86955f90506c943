/** `workflows validate`: structure always; against a backend's /object_info when one answers. */
import { validateAgainstObjectInfo, validateStructure, type ObjectInfo, type WorkflowDefinition } from '../workflows/index.js';
import { ChorusError, ErrorCode, toChorusError } from '../errors/index.js';
import type { BackendPoolPort } from '../jobs/index.js';

export async function validateWorkflow(
  definition: WorkflowDefinition,
  pool: BackendPoolPort,
  backendName?: string,
): Promise<{ ok: boolean; errors: unknown[]; warnings: unknown[]; checked_against: string | null }> {
  const structure = validateStructure(definition);
  const backend = backendName === undefined ? pool.choose(() => 0) : pool.get(backendName);
  if (backendName !== undefined && !backend) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `No backend named "${backendName}"`, {
      details: { backend: backendName, known: pool.list().map((b) => b.name) },
    });
  }
  if (!backend) return { ok: structure.ok, errors: structure.errors, warnings: structure.warnings, checked_against: null };
  let objectInfo: ObjectInfo;
  try {
    objectInfo = (await backend.objectInfo()) as ObjectInfo;
  } catch (error) {
    const reason = toChorusError(error, ErrorCode.COMFY_UNAVAILABLE).message;
    const warnings = [...structure.warnings, { rule: 'object_info', nodeId: null, message: `not checked against ${backend.name}: ${reason}` }];
    return { ok: structure.ok, errors: structure.errors, warnings, checked_against: null };
  }
  const server = validateAgainstObjectInfo(definition.graph, objectInfo);
  return {
    ok: structure.ok && server.ok,
    errors: [...structure.errors, ...server.errors],
    warnings: [...structure.warnings, ...server.warnings],
    checked_against: backend.name,
  };
}
