/**
 * The one logger interface of chorus-visual: the slice of a pino logger the modules use.
 * Pass pino's (the root logger or a child), or `silentLogger` when nobody listens.
 */
export interface StructuredLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentLogger: StructuredLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
