/**
 * The SDK's checked-in types (clients/typescript/src/openapi.ts) are what openapi-typescript makes of
 * the API's current document. When a route or schema changes, run `npm run sdk:generate`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SDK_TYPES_FILE, generateSdkTypes } from '../../scripts/generate-sdk.ts';

describe('SDK types', () => {
  it('are fresh: regenerate with `npm run sdk:generate`', async () => {
    const expected = await generateSdkTypes();
    const actual = readFileSync(SDK_TYPES_FILE, 'utf8');
    expect(actual === expected, 'clients/typescript/src/openapi.ts is stale: run `npm run sdk:generate`').toBe(true);
  });
});
