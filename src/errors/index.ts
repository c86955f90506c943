export { ErrorCode, errorCatalogue } from './error-codes.js';
export { ChorusError, isChorusError, toChorusError, type ErrorData, type ChorusErrorOptions } from './chorus-error.js';
