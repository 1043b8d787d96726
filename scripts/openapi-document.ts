/**
 * The OpenAPI document of the whole system, built in-process (no server, no database call): the same
 * `createSystem` the API Lambda and `npm start` run, asked for `/openapi.json`. Used by
 * `npm run sdk:generate` and by the tests that keep the SDK types and the contract checks honest.
 */
import { parseConfig } from '../shared/config.ts';
import { createSystem } from '../shared/compose/system.ts';

export async function openApiDocument(): Promise<Record<string, any>> {
  const system = createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' }) });
  try {
    const res = await system.app.request('/openapi.json');
    if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
    return (await res.json()) as Record<string, any>;
  } finally {
    system.services.db.doc.destroy();
  }
}
