/**
 * The whole system as `npm start` wires it (shared/compose/system.ts: booking, metering, billing without
 * Stripe, webhooks, portal) on a fresh table in the run's DynamoDB Local, seeded with the demo
 * catalog and keys, on a manual clock; `listen()` serves it on a free local port for clients that
 * speak HTTP (the `gpum` command line).
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { parseConfig } from '../../shared/config.ts';
import { seedDemo, type DemoKeys } from '../../shared/store/seed.ts';
import { createSystem, type System } from '../../shared/compose/system.ts';
import { manualClock, type ManualClock } from './clock.ts';
import { createTestDb } from './db.ts';

export interface SystemContext {
  system: System;
  keys: DemoKeys;
  clock: ManualClock;
  /** Serves the app on 127.0.0.1 and resolves to its base URL (once). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function createSystemContext(options: { start?: string; env?: Record<string, string> } = {}): Promise<SystemContext> {
  const db = await createTestDb('system');
  const clock = manualClock(options.start ?? '2026-11-24T10:00:00Z');
  const keys = await seedDemo(db, clock());
  const system = createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1,localhost', ...options.env }), db, clock });
  let server: ServerType | undefined;
  let base: Promise<string> | undefined;
  return {
    system,
    keys,
    clock,
    listen: () =>
      (base ??= new Promise<string>((resolve) => {
        server = serve({ fetch: system.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}`));
      })),
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await db.drop();
    },
  };
}
