/** RFC 9457 problem details, generated from the one error-code table in shared/domain/errors.ts. */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES, type ErrorCode, type FieldError } from '#domain/errors.ts';
import { MAX, Period } from './schemas.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const problemType = (code: ErrorCode): string => `https://gpu-market.example/problems/${code.replaceAll('_', '-')}`;

/** At most this many field errors are listed; `detail` and each text are cut to the document's limits. */
export const MAX_FIELD_ERRORS = 100;

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export const ProblemSchema = z
  .object({
    type: z.string().max(MAX.id).openapi({ example: problemType('capacity_unavailable') }),
    title: z.string().max(MAX.name).openapi({ example: ERROR_CODES.capacity_unavailable.title }),
    status: z.number().int().openapi({ example: 409 }),
    detail: z.string().max(MAX.text).openapi({ example: 'Only 8 GPUs are free in every hour of that window' }),
    instance: z.string().max(MAX.url).optional(),
    requestId: z.string().max(MAX.id).optional(),
    errors: z
      .array(z.object({ path: z.string().max(MAX.name).openapi({ example: 'gpus' }), message: z.string().max(MAX.text) }))
      .max(MAX_FIELD_ERRORS)
      .optional()
      .openapi({ description: `Field errors: the path of each offending field and what is wrong with it (the first ${MAX_FIELD_ERRORS})` }),
    limit: z
      .object({ amount: z.number().int(), currency: z.literal('EUR') })
      .optional()
      .openapi({ description: 'budget-exceeded: the monthly limit that refused the booking (org budget or API key limit)' }),
    amount: z
      .object({ amount: z.number().int(), currency: z.literal('EUR') })
      .optional()
      .openapi({ description: 'budget-exceeded: what the refused booking costs (on-demand: one hour at its rate)' }),
    remaining: z
      .object({ amount: z.number().int(), currency: z.literal('EUR') })
      .optional()
      .openapi({ description: 'budget-exceeded: what remains of the limit this month (limit − spent − committed, at least 0)' }),
    period: Period.optional().openapi({ description: 'budget-exceeded: the month (YYYY-MM) the limit applies to' }),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof ProblemSchema>;

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

/** OpenAPI responses for the given error codes, to spread into a route's `responses`. */
export function errorResponses(...codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const s = ERROR_CODES[code].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), code]);
  }
  const out: Record<number, { description: string; content: Record<string, { schema: typeof ProblemSchema }> }> = {};
  for (const [status, list] of byStatus) {
    out[status] = {
      description: list.map((c) => `${ERROR_CODES[c].title} (${problemType(c)})`).join('; '),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  return out;
}

/** Errors every authenticated route can answer. */
export const COMMON_ERRORS: ErrorCode[] = ['validation_failed', 'unauthenticated', 'forbidden', 'rate_limited', 'internal'];
