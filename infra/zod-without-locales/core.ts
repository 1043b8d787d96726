/** zod's `v4/core` (what `z.core` holds) with `locales` reduced to English; see index.ts. */
import en from '../../node_modules/zod/v4/locales/en.js';

export * from '../../node_modules/zod/v4/core/index.js';
/** A local export takes precedence over the `export *` above: this one replaces zod's. */
export const locales = { en };
