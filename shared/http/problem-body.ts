/**
 * RFC 9457 problem details as the API answers them, generated from the one error-code table in
 * shared/domain/errors.ts. Free of zod: the middleware that answers before any route (authentication,
 * rate limits, errors) uses it at init; the schema documenting it is shared/http/problem.ts.
 */
import { ERROR_CODES, type ErrorCode, type FieldError } from '#domain/errors.ts';
import { MAX } from './wire-limits.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const problemType = (code: ErrorCode): string => `https://gpu-market.example/problems/${code.replaceAll('_', '-')}`;

/** At most this many field errors are listed; `detail` and each text are cut to the document's limits. */
export const MAX_FIELD_ERRORS = 100;

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A problem as sent; `ProblemSchema` (shared/http/problem.ts) documents it and is checked against this type. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string | undefined;
  requestId?: string | undefined;
  errors?: { path: string; message: string }[] | undefined;
  limit?: Money | undefined;
  amount?: Money | undefined;
  remaining?: Money | undefined;
  period?: string | undefined;
}

interface Money {
  amount: number;
  currency: 'EUR';
}

export function problemBody(
  code: ErrorCode,
  detail: string,
  extra: { errors?: FieldError[] | undefined; instance?: string; requestId?: string; extensions?: Record<string, unknown> | undefined } = {},
): Problem {
  const { status, title } = ERROR_CODES[code];
  return {
    ...(extra.extensions ?? {}),
    type: problemType(code),
    title,
    status,
    detail: clip(detail, MAX.text),
    ...(extra.instance ? { instance: extra.instance } : {}),
    ...(extra.requestId ? { requestId: extra.requestId } : {}),
    ...(extra.errors && extra.errors.length > 0
      ? { errors: extra.errors.slice(0, MAX_FIELD_ERRORS).map((e) => ({ path: clip(e.path, MAX.name), message: clip(e.message, MAX.text) })) }
      : {}),
  };
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
  });
}
