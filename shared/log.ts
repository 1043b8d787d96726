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

/**
 * For a person at a terminal (`npm start`): `12:03:04 WARN  request failed  requestId=… code=…`, one line
 * per entry (an error's stack follows on its own lines). Lambda keeps `consoleLogger`'s JSON, which
 * CloudWatch Logs Insights reads field by field.
 */
export function prettyLogger(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  const value = (v: unknown): string => (typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v));
  const line = (level: string, message: string, fields: Record<string, unknown> = {}) => {
    const time = new Date().toISOString().slice(11, 19);
    let stack = '';
    const parts = Object.entries(fields).flatMap(([k, v]) => {
      if (v && typeof v === 'object' && 'stack' in v && typeof (v as { stack?: unknown }).stack === 'string') {
        stack = `\n${(v as { stack: string }).stack}`;
        const { stack: _stack, ...rest } = v as Record<string, unknown>;
        return [`${k}=${value(rest)}`];
      }
      return v === undefined ? [] : [`${k}=${value(v)}`];
    });
    write(`${time} ${level.padEnd(5)} ${message}${parts.length > 0 ? `  ${parts.join(' ')}` : ''}${stack}`);
  };
  return {
    info: (message, fields) => line('INFO', message, fields),
    warn: (message, fields) => line('WARN', message, fields),
    error: (message, fields) => line('ERROR', message, fields),
  };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * An error as log fields: its name and message (and its stack with `{ stack: true }`, for failures
 * nobody expected); anything thrown that is not an Error, as its text.
 */
export function errorFields(error: unknown, options: { stack?: boolean } = {}): { name: string; message: string; stack?: string | undefined } | string {
  if (!(error instanceof Error)) return String(error);
  return { name: error.name, message: error.message, ...(options.stack ? { stack: error.stack } : {}) };
}
