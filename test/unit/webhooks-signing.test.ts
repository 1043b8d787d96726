import { Hono } from 'hono';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateEndpointSecret, signatureHeaders } from '../../shared/webhooks/signing.ts';

const payload = JSON.stringify({ id: 'evt_01J', type: 'reservation.confirmed', data: { id: 'res_01J', status: 'confirmed' } });

describe('generateEndpointSecret', () => {
  it('is whsec_ followed by the base64 of 32 random bytes', () => {
    const secret = generateEndpointSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
  });

  it('never repeats', () => {
    const secrets = new Set(Array.from({ length: 200 }, generateEndpointSecret));
    expect(secrets.size).toBe(200);
  });
});

describe('signatureHeaders, verified with standardwebhooks exactly as a partner would', () => {
  it('signs with one secret; the partner gets the parsed event back', () => {
    const secret = generateEndpointSecret();
    const headers = signatureHeaders({ msgId: 'msg_1', timestamp: new Date(), payload, secrets: [secret] });
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
  });

  it('puts the timestamp in whole Unix seconds', () => {
    const headers = signatureHeaders({ msgId: 'msg_1', timestamp: new Date('2026-03-01T12:00:00.999Z'), payload, secrets: [generateEndpointSecret()] });
    expect(headers['webhook-timestamp']).toBe(String(Date.parse('2026-03-01T12:00:00Z') / 1000));
  });

  it('during a rotation overlap both the old and the new secret verify, each on its own', () => {
    const oldSecret = generateEndpointSecret();
    const newSecret = generateEndpointSecret();
    const headers = signatureHeaders({ msgId: 'msg_2', timestamp: new Date(), payload, secrets: [newSecret, oldSecret] });
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true);
    expect(new Webhook(oldSecret).verify(payload, headers)).toEqual(JSON.parse(payload));
    expect(new Webhook(newSecret).verify(payload, headers)).toEqual(JSON.parse(payload));
  });

  it('fails verification for another secret, a changed body, a changed id or an old timestamp', () => {
    const secret = generateEndpointSecret();
    const headers = signatureHeaders({ msgId: 'msg_3', timestamp: new Date(), payload, secrets: [secret] });
    expect(() => new Webhook(generateEndpointSecret()).verify(payload, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(payload.replace('confirmed', 'cancelled'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(payload, { ...headers, 'webhook-id': 'msg_4' })).toThrow(WebhookVerificationError);
    const stale = signatureHeaders({ msgId: 'msg_3', timestamp: new Date(Date.now() - 10 * 60_000), payload, secrets: [secret] });
    expect(() => new Webhook(secret).verify(payload, stale)).toThrow(/too old/);
  });

  it('gives the same signature for the same id, time and body, so a retry is recognisably the same message', () => {
    const secret = generateEndpointSecret();
    const timestamp = new Date();
    const first = signatureHeaders({ msgId: 'msg_5', timestamp, payload, secrets: [secret] });
    const again = signatureHeaders({ msgId: 'msg_5', timestamp, payload, secrets: [secret] });
    expect(again).toEqual(first);
  });

  it('refuses to sign without a secret', () => {
    expect(() => signatureHeaders({ msgId: 'msg_6', timestamp: new Date(), payload, secrets: [] })).toThrow(/at least one secret/);
  });
});

describe('the partner example in docs/webhooks.md', () => {
  function partnerApp(secret: string) {
    const webhook = new Webhook(secret);
    const processed: unknown[] = [];
    const app = new Hono();
    app.post('/webhooks/gpu-market', async (c) => {
      const body = await c.req.text();
      let event;
      try {
        event = webhook.verify(body, c.req.header());
      } catch {
        return c.body(null, 400);
      }
      processed.push(event);
      return c.body(null, 204);
    });
    return { app, processed };
  }

  it('accepts a signed delivery and answers 400 to a forged one', async () => {
    const secret = generateEndpointSecret();
    const { app, processed } = partnerApp(secret);
    const headers = signatureHeaders({ msgId: 'msg_7', timestamp: new Date(), payload, secrets: [secret] });
    const post = (body: string, h: Record<string, string>) =>
      app.request('/webhooks/gpu-market', { method: 'POST', body, headers: { 'content-type': 'application/json', ...h } });

    expect((await post(payload, headers)).status).toBe(204);
    expect(processed).toEqual([JSON.parse(payload)]);
    expect((await post(payload.replace('res_01J', 'res_02X'), headers)).status).toBe(400);
    const forged = signatureHeaders({ msgId: 'msg_7', timestamp: new Date(), payload, secrets: [generateEndpointSecret()] });
    expect((await post(payload, forged)).status).toBe(400);
    expect(processed).toHaveLength(1);
  });
});
