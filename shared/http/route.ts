/** What every route definition shares: the API-key security requirement and the JSON body/response shapes. */
import type { z } from '@hono/zod-openapi';

/** The route takes an API key (`Authorization: Bearer …`, the `ApiKey` scheme of the document). */
export const security = [{ ApiKey: [] }];

/** A JSON response: its description and schema. */
export const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });

/** The zod schema a route declares for its JSON response of `status`. */
type ResponseSchema<R, S> = R extends { responses: infer Rs }
  ? S extends keyof Rs
    ? Rs[S] extends { content: { 'application/json': { schema: infer Z extends z.ZodTypeAny } } }
      ? Z
      : never
    : never
  : never;

/**
 * The body a route answers with `status`, parsed with the schema it declares: what leaves is what
 * the document describes (fields the schema does not name are dropped; a body that does not fit
 * throws, answered as a 500 and logged, never sent).
 */
export function output<R extends { responses: object }, S extends keyof R['responses'] & number>(route: R, status: S, body: z.input<ResponseSchema<R, S>>): z.output<ResponseSchema<R, S>> {
  const schema = (route.responses as Record<number, { content: { 'application/json': { schema: z.ZodTypeAny } } }>)[status]!.content['application/json'].schema;
  return schema.parse(body) as z.output<ResponseSchema<R, S>>;
}
