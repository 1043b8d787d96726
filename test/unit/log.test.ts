/** Logs: JSON lines for CloudWatch (Lambda), one readable line per entry for a terminal (`npm start`). */
import { describe, expect, it, vi } from 'vitest';
import { consoleLogger, errorFields, prettyLogger } from '../../shared/log.ts';

describe('logs', () => {
  it('pretty: time, level, message, then key=value fields; an error’s stack on the lines after', () => {
    const lines: string[] = [];
    const log = prettyLogger((l) => lines.push(l));
    log.warn('request failed', { requestId: 'abc', code: 'contention', detail: 'two words' });
    const error = new Error('boom');
    log.error('unhandled error', { error: errorFields(error, { stack: true }) });
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d WARN  request failed {2}requestId=abc code=contention detail="two words"$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d ERROR unhandled error {2}error=\{"name":"Error","message":"boom"\}\nError: boom\n {4}at /);
    expect(lines.join('\n')).not.toContain('{"level"');
  });

  it('json: one object per line with level and message, as CloudWatch Logs Insights reads it', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
    consoleLogger.info('started', { port: 3000 });
    expect(JSON.parse(spy.mock.calls[0]![0] as string)).toEqual({ level: 'INFO', message: 'started', port: 3000 });
    spy.mockRestore();
  });
});
