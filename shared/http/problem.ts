/** The OpenAPI schema of RFC 9457 problem details (shared/http/problem-body.ts builds them), and each route's error responses. */
import { z } from './zod.ts';
import { ERROR_CODES, type ErrorCode } from '#domain/errors.ts';
import { MAX_FIELD_ERRORS, PROBLEM_CONTENT_TYPE, problemType, type Problem } from './problem-body.ts';
import { MAX, Period } from './schemas.ts';

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

/** The schema and the type problemBody builds describe the same object, in both directions. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.infer<typeof ProblemSchema>, Problem> = true;
void sameShape;

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
