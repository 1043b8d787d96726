/**
 * Logging, below every layer: what anything that logs takes as a dependency (`Logger`), the two
 * loggers the composition root chooses from, and the one way an error becomes log fields.
 */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const consoleLogger: Logger = {
  info: (message, fields) => console.log(JSON.stringify({ level: 'INFO', message, ...fields })),
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'WARN', message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: 'ERROR', message, ...fields })),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * An error as log fields: its name and message (and its stack with `{ stack: true }`, for failures
 * nobody expected); anything thrown that is not an Error, as its text.
 */
export function errorFields(error: unknown, options: { stack?: boolean } = {}): { name: string; message: string; stack?: string | undefined } | string {
  if (!(error instanceof Error)) return String(error);
  return { name: error.name, message: error.message, ...(options.stack ? { stack: error.stack } : {}) };
}
