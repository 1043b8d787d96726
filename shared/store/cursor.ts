import { invalidField } from '#domain/errors.ts';

/** Opaque list cursors: the DynamoDB key a page stopped at, base64url JSON, checked on the way back in. */
export const encodeCursor = (key: Record<string, unknown> | undefined): string | null =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;

export function decodeCursor(cursor: string | undefined, expect: Record<string, string | RegExp>): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidField('cursor', 'is not a cursor this API returned');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidField('cursor', 'is not a cursor this API returned');
  const record = parsed as Record<string, unknown>;
  const expectedKeys = Object.keys(expect);
  const ok =
    Object.keys(record).length === expectedKeys.length &&
    expectedKeys.every((k) => {
      const v = record[k];
      const rule = expect[k]!;
      return typeof v === 'string' && (typeof rule === 'string' ? v === rule : rule.test(v));
    });
  if (!ok) throw invalidField('cursor', 'is not a cursor this API returned');
  return record;
}
