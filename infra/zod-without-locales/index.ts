/**
 * `zod` for the Lambda bundles (esbuild alias `zod` → this folder; see infra/bundling.ts): the same
 * modules and exports as zod's root entry, except that the locale catalogue (`z.locales` and
 * `z.core.locales`, error messages in 50 languages, about 260 KB minified) is reduced to English.
 *
 * Why an alias is needed: @hono/zod-openapi calls `extendZodWithOpenApi(z)` with the whole namespace
 * as a value, so the bundler must keep every export of it, the locale catalogue included, although
 * nothing in this system reads it. English stays what it is: zod's default, registered by its schemas
 * on first use. Nothing here imports zod by its package name, which the alias would send back here.
 */
import * as z from './classic.ts';

export * from './classic.ts';
export { z, z as default };
