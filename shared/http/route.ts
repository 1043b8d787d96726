/** What every route definition shares: the API-key security requirement and the JSON body/response shapes. */
import type { z } from '@hono/zod-openapi';

/** The route takes an API key (`Authorization: Bearer …`, the `ApiKey` scheme of the document). */
export const security = [{ ApiKey: [] }];

/** A JSON response: its description and schema. */
export const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });
