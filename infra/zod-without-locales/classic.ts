/** zod's `v4/classic/external` (what `z` holds) with `core` and `locales` replaced; see index.ts. */
import en from '../../node_modules/zod/v4/locales/en.js';
import * as core from './core.ts';

export * from '../../node_modules/zod/v4/classic/external.js';
/** Local exports take precedence over the `export *` above: these two replace zod's. */
export { core };
export const locales = { en };
