/**
 * The command facade every door (NATS, HTTP, CLI) calls after validating with
 * command-schemas.ts: jobs go to the JobService, workflow questions to the workflow library
 * and the backends. Built here, where both are composed, so neither has to serve the other.
 */
import type { JobCommandHandler, ValidateCommand, WorkflowSummary } from '../commands/index.js';
import type { BackendPoolPort, JobService, WorkflowsPort } from '../jobs/index.js';
import { validateWorkflow } from './workflow-validation.js';

export function createJobCommands(service: JobService, workflows: WorkflowsPort, pool: BackendPoolPort): JobCommandHandler {
  return {
    generate: (cmd) => service.generate(cmd),
    regenerate: (cmd) => service.regenerate(cmd),
    cancel: (jobId) => service.cancel(jobId),
    get: (jobId, opts) => service.get(jobId, opts),
    list: (cmd) => service.list(cmd),
    workflows: async () => ({ workflows: workflows.list().map(summaryOf), problems: workflows.problems?.() ?? [] }),
    validate: (cmd: ValidateCommand) => validateWorkflow(workflows.get(cmd.workflow), pool, cmd.backend),
  };
}

function summaryOf(definition: ReturnType<WorkflowsPort['list']>[number]): WorkflowSummary {
  return {
    name: definition.name,
    type: definition.type,
    placeholders: [...new Set(definition.placeholders.map((p) => p.token ?? p.key))].sort(),
  };
}
