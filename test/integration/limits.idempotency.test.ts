/**
 * Issue 15, finding 3 (OWASP API5, API2): authorization runs before any Idempotency-Key replay,
 * records are per API key, and an answer that carried a secret (webhook signing secret, API key) is
 * stored redacted; its replay is `409 …/secret-shown-once` naming the resource.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolveHost } from '../../shared/webhooks/ssrf.ts';
import { scanAll } from '../support/invariants.ts';
import { memberKey, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

const resolve: ResolveHost = async () => ['93.184.216.34'];

let w: WebhookTest;
let member: string;
beforeAll(async () => {
  w = await webhookTest({ resolve });
  member = await memberKey(w.t);
});
afterAll(() => w.close());

const idem = (key: string) => ({ 'idempotency-key': key });
const storedRecords = async () => (await scanAll(w.t.db)).filter((i) => i.entity === 'idempotency');

describe('idempotency that leaks nothing', () => {
  it('a member replaying an admin’s key and body is refused (403) and never sees the admin’s answer', async () => {
    const body = { url: 'https://partner.example/a', events: ['reservation.confirmed'] };
    const admin = await w.t.call('POST', '/v1/webhook-endpoints', { body, headers: idem('create-a') });
    expect(admin.status).toBe(201);
    expect(admin.body.secret).toMatch(/^whsec_/);
    const replayed = await w.t.call('POST', '/v1/webhook-endpoints', { key: member, body, headers: idem('create-a') });
    expect(replayed.status).toBe(403);
    expect(replayed.text).not.toContain('whsec_');
    expect(replayed.headers.get('idempotent-replayed')).toBeNull();
  });

  it('records are per API key: another key of the same org with the same key string runs its own request', async () => {
    const body = { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: '2026-12-10T08:00:00Z', end: '2026-12-10T10:00:00Z' };
    const first = await w.t.call('POST', '/v1/quotes', { body, headers: idem('quote-shared') });
    const second = await w.t.call('POST', '/v1/quotes', { key: member, body, headers: idem('quote-shared') });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(second.body.id).not.toBe(first.body.id);
  });

  it('a webhook endpoint’s secret is stored redacted; the replay says it was shown once and names the endpoint', async () => {
    const body = { url: 'https://partner.example/b', events: ['reservation.confirmed'] };
    const created = await w.t.call('POST', '/v1/webhook-endpoints', { body, headers: idem('create-b') });
    expect(created.status).toBe(201);
    const again = await w.t.call('POST', '/v1/webhook-endpoints', { body, headers: idem('create-b') });
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('https://gpu-market.example/problems/secret-shown-once');
    expect(again.body.detail).toContain(created.body.id);
    expect(again.text).not.toContain('whsec_');
    // Nothing created twice.
    const list = await w.t.call('GET', '/v1/webhook-endpoints');
    expect(list.body.data.filter((e: { url: string }) => e.url === body.url)).toHaveLength(1);

    const rotated = await w.t.call('POST', `/v1/webhook-endpoints/${created.body.id}/rotate-secret`, { headers: idem('rotate-b') });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    const rotatedAgain = await w.t.call('POST', `/v1/webhook-endpoints/${created.body.id}/rotate-secret`, { headers: idem('rotate-b') });
    expect(rotatedAgain.status).toBe(409);
    expect(rotatedAgain.text).not.toContain('whsec_');

    const stored = JSON.stringify(await storedRecords());
    expect(stored).not.toContain(created.body.secret);
    expect(stored).not.toContain(rotated.body.secret);
    expect(stored).not.toContain('whsec_');
  });

  it('a new API key is stored redacted too', async () => {
    const body = { role: 'customer', orgId: 'org_lumiere', orgRole: 'member' };
    const created = await w.t.call('POST', '/v1/api-keys', { key: w.t.keys.operator, body, headers: idem('key-1') });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^gm_live_/);
    const again = await w.t.call('POST', '/v1/api-keys', { key: w.t.keys.operator, body, headers: idem('key-1') });
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/secret-shown-once$/);
    expect(again.text).not.toContain(created.body.key);
    expect(JSON.stringify(await storedRecords())).not.toContain(created.body.key);
  });

  it('answers without a secret are still replayed byte for byte', async () => {
    const body = { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: '2026-12-11T08:00:00Z', end: '2026-12-11T10:00:00Z' };
    const first = await w.t.call('POST', '/v1/quotes', { body, headers: idem('quote-replay') });
    const again = await w.t.call('POST', '/v1/quotes', { body, headers: idem('quote-replay') });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
  });
});
