/**
 * zod as the routes declare their schemas: `z` extended with `.openapi()`, and `createRoute`. Import
 * them from here, never from '@hono/zod-openapi' directly: in the Lambda bundles (esbuild code
 * splitting) an import of `z` from that package is linked straight to zod's chunk, and nothing then
 * runs the package's own module, which extends zod, before the importer; the first route module to
 * load called `.openapi` on an unextended zod (found by bench/cold-start.ts's routed first request,
 * guarded by test/unit/lambda-bundle.test.ts). Extending here (a no-op the second time) makes every
 * importer of this file run after zod is extended.
 */
import { createRoute, extendZodWithOpenApi, z } from '@hono/zod-openapi';

extendZodWithOpenApi(z);

export { createRoute, z };
