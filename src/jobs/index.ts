/** The job runtime's public surface. */
export { JobService, type JobServiceDeps } from './job-service.js';
export { Scheduler, type SchedulerOptions } from './scheduler.js';
export { createJobActors, machineEventOf, type JobActorDeps, type JobActors } from './job-actors.js';
export { monotonicClock, systemClock, waitUntil, type Clock } from './clock.js';
export type { JobTransitionNotice, JobProgressNotice, JobServiceEventMap } from './job-service-events.js';
export type { BackendPoolPort, WorkflowsPort, CharactersPort, PromptComposerPort, CollectorPort } from './job-runtime-ports.js';
export { jobViewOf, timingsOf } from './job-view-mapper.js';
export { positionOf, transitionType, type JobPosition } from './job-state-of.js';
export * from '../contracts/job-view.js';
export type * from '../contracts/job-store-port.js';
export { JobLeaseKeeper, type JobLeaseKeeperOptions } from './job-lease-keeper.js';
export type { InstanceCoordinator, InstanceInfo, SlotLedger } from '../contracts/instance-coordination-port.js';
export type { JobCoordination } from './job-service.js';
