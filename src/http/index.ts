export { startHttpServer, type HttpServerOptions, type RunningHttpServer } from './http-server.js';
export type {
  JobCommandHandler,
  JobFeed,
  FeedMessage,
  FeedTransition,
  FeedProgress,
  HealthSources,
  BackendStatus,
  JobEventView,
  ClusterView,
} from './ports.js';
export { statusForCode, errorEnvelope } from './http-error-envelope.js';
export { checkReadiness } from './health-routes.js';
export { diagramFromMachine, architectureDiagram, type MachineDiagram } from './machine-diagram-model.js';
export { jobFeedFromJobService, type JobNoticeSource } from './job-service-feed.js';
export { createHealthSources, type HealthSourceParts } from './health-sources.js';
