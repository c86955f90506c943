export * from './command-schemas.js';
export {
  startCommandService,
  handleCommand,
  commandSubject,
  statusFor,
  SERVICE_NAME,
  COMMAND_NAMES,
  type CommandName,
  type CommandService,
  type CommandServiceOptions,
} from './command-service.js';
export {
  replyOk,
  replyError,
  parseCommandPayload,
  describeIssues,
  invalidCommand,
  commandReplySchema,
  errorReplySchema,
  MAX_COMMAND_BYTES,
  type OkReply,
  type ErrorReply,
  type CommandReply,
  type IssueReport,
} from './command-replies.js';
export { toJobEventView, type JobCommandHandler, type JobEventView, type WorkflowSummary } from './job-command-handler.js';
