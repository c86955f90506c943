export { ErrorCode, errorCatalogue } from '../contracts/error-codes.js';
export { ChorusError, isChorusError, toChorusError, type ErrorData, type ChorusErrorOptions } from './chorus-error.js';
export { publicErrorFor, causeForLog, type PublicError } from './internal-error.js';
export { ownershipLost, isOwnershipLost } from './ownership-lost.js';
export { messageOf } from './message-of.js';
export { portRefused } from './port-refused.js';
