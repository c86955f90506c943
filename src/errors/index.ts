export { ErrorCode, errorCatalogue } from './error-codes.js';
export { ChorusError, isChorusError, toChorusError, type ErrorData, type ChorusErrorOptions } from './chorus-error.js';
export { publicErrorFor, causeForLog, type PublicError } from './internal-error.js';
