import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyResponse } from '../../shared/webhooks/schedule.ts';
import { RESPONSE_SNIPPET_BYTES, sendWebhook } from '../../shared/webhooks/send.ts';
import { generateEndpointSecret, signatureHeaders } from '../../shared/webhooks/signing.ts';
import { checkWebhookUrl, type ResolveHost } from '../../shared/webhooks/ssrf.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

const LOOPBACK = ['127.0.0.1'];
const body = JSON.stringify({ id: 'evt_1', type: 'reservation.held', createdAt: '2026-05-01T12:00:00Z', data: { id: 'res_1' } });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(options: Parameters<typeof startWebhookReceiver>[0] = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(options);
  cleanups.push(() => r.close());
  return r;
}

/** A TCP server that accepts connections and hands each socket to `onSocket` (never speaks HTTP itself). */
async function rawServer(onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A resolver that answers from a list, one answer per call, and counts its calls. */
function scriptedResolver(...answers: string[][]): ResolveHost & { calls: number } {
  const resolve = Object.assign(
    async (_host: string) => {
      const answer = answers[Math.min(resolve.calls, answers.length - 1)]!;
      resolve.calls += 1;
      return answer;
    },
    { calls: 0 },
  );
  return resolve;
}

describe('sendWebhook delivers', () => {
  it('POSTs the JSON body with Standard Webhooks headers that verify with standardwebhooks, as a partner would', async () => {
    const partner = await receiver();
    const secret = generateEndpointSecret();
    const headers = signatureHeaders({ msgId: 'msg_1', timestamp: new Date(), payload: body, secrets: [secret] });

    const result = await sendWebhook({ url: partner.url, headers, body, allowedHosts: LOOPBACK });

    expect(result).toMatchObject({ status: 204 });
    expect(result.error).toBeUndefined();
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(partner.received).toHaveLength(1);
    const got = partner.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/webhook');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.body).toBe(body);
    // The partner side: raw body + the request's headers, nothing else.
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toEqual(JSON.parse(body));
  });

  it('reaches a partner that is down for its first attempts, with the same webhook-id each time', async () => {
    const partner = await receiver({ failFirst: 2, failStatus: 503 });
    const secret = generateEndpointSecret();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const headers = signatureHeaders({ msgId: 'msg_stable', timestamp: new Date(), payload: body, secrets: [secret] });
      statuses.push((await sendWebhook({ url: partner.url, headers, body, allowedHosts: LOOPBACK })).status);
    }
    expect(statuses).toEqual([503, 503, 204]);
    expect(partner.received.map((r) => r.headers['webhook-id'])).toEqual(['msg_stable', 'msg_stable', 'msg_stable']);
  });

  it('keeps only the first 4 KB of a large response body', async () => {
    const partner = await receiver({ respond: () => ({ status: 200, body: 'x'.repeat(200_000) }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result.status).toBe(200);
    expect(result.responseBodySnippet).toBe('x'.repeat(RESPONSE_SNIPPET_BYTES));
  });

  it('reports 410 so the caller can disable the endpoint', async () => {
    const partner = await receiver({ respond: () => ({ status: 410, body: 'gone' }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result).toMatchObject({ status: 410, responseBodySnippet: 'gone' });
    expect(classifyResponse(result.status)).toBe('disable');
  });
});

describe('Retry-After', () => {
  it('is read from a 429 in seconds', async () => {
    const partner = await receiver({ respond: () => ({ status: 429, headers: { 'retry-after': '120' } }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result).toMatchObject({ status: 429, retryAfterMs: 120_000 });
    expect(classifyResponse(result.status)).toBe('retry_after');
  });

  it('is read from a 503 as an HTTP date against the given clock', async () => {
    const now = new Date('2026-05-01T12:00:00Z');
    const partner = await receiver({ respond: () => ({ status: 503, headers: { 'retry-after': 'Fri, 01 May 2026 12:10:00 GMT' } }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK, now: () => now });
    expect(result).toMatchObject({ status: 503, retryAfterMs: 600_000 });
  });
});

describe('sendWebhook never follows redirects', () => {
  it('treats a 3xx as a failed attempt and never calls the Location', async () => {
    const elsewhere = await receiver();
    const partner = await receiver({ respond: () => ({ status: 302, headers: { location: elsewhere.url } }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result.status).toBe(302);
    expect(result.error).toMatch(/redirect not followed.*Location: http:\/\/127\.0\.0\.1/);
    expect(classifyResponse(result.status)).toBe('retry');
    expect(elsewhere.received).toHaveLength(0);
  });

  it('does not follow a 307 to the cloud metadata address either', async () => {
    const partner = await receiver({ respond: () => ({ status: 307, headers: { location: 'http://169.254.169.254/latest/meta-data/' } }) });
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result.status).toBe(307);
    expect(partner.received).toHaveLength(1);
  });
});

describe('sendWebhook refuses unsafe destinations at send time', () => {
  it('refuses a loopback receiver that is not in the allowed hosts, without sending anything', async () => {
    const partner = await receiver();
    const result = await sendWebhook({ url: partner.url, headers: {}, body, allowedHosts: [] });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^unsafe_url: .*https/);
    const overHttps = await sendWebhook({ url: partner.url.replace('http:', 'https:'), headers: {}, body, allowedHosts: [] });
    expect(overHttps.error).toMatch(/^unsafe_url: .*127\.0\.0\.1.*loopback/);
    expect(partner.received).toHaveLength(0);
  });

  it('refuses the metadata service in every spelling', async () => {
    for (const url of ['https://169.254.169.254/latest/meta-data/', 'https://2852039166/', 'https://[::ffff:a9fe:a9fe]/', 'https://[fd00:ec2::254]/']) {
      const result = await sendWebhook({ url, headers: {}, body, allowedHosts: [] });
      expect(result.status, url).toBeNull();
      expect(result.error, url).toMatch(/^unsafe_url: .*metadata/);
    }
  });

  it('defeats DNS rebinding: a host that was public when the endpoint was created and resolves to 127.0.0.1 now is refused', async () => {
    const partner = await receiver();
    const resolve = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
    const url = `https://rebind.example:${partner.port}/webhook`;

    await expect(checkWebhookUrl(url, { allowedHosts: [], resolve })).resolves.toMatchObject({ addresses: ['93.184.216.34'] });
    const result = await sendWebhook({ url, headers: {}, body, allowedHosts: [], resolve });

    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^unsafe_url: host rebind\.example resolves to 127\.0\.0\.1.*loopback/);
    expect(partner.received).toHaveLength(0);
  });

  it('connects to the address it checked: the request never resolves the name a second time', async () => {
    const partner = await receiver();
    const resolve = scriptedResolver(['127.0.0.1'], ['10.9.9.9']);
    const result = await sendWebhook({
      url: `http://partner.test:${partner.port}/webhook?via=pin`,
      headers: {},
      body,
      allowedHosts: ['partner.test'],
      resolve,
    });
    expect(result.status).toBe(204);
    expect(resolve.calls).toBe(1);
    expect(partner.received[0]!.path).toBe('/webhook?via=pin');
    expect(partner.received[0]!.headers.host).toBe(`partner.test:${partner.port}`);
  });

  it('over https, connects to the checked address and still names the host in TLS (SNI)', async () => {
    let clientHello: Buffer | undefined;
    const port = await rawServer((socket) =>
      socket.once('data', (chunk: Buffer) => {
        clientHello = chunk;
        socket.destroy();
      }),
    );
    const resolve = scriptedResolver(['127.0.0.1']);
    const result = await sendWebhook({ url: `https://partner.test:${port}/webhook`, headers: {}, body, allowedHosts: ['partner.test'], resolve });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^network: /);
    expect(clientHello?.[0]).toBe(0x16); // a TLS handshake record reached the pinned address
    expect(clientHello?.includes(Buffer.from('partner.test'))).toBe(true);
  });

  it('reports a host that does not resolve as a DNS failure to retry, not as unsafe', async () => {
    const resolve: ResolveHost = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND gone.example'), { code: 'ENOTFOUND' });
    };
    const result = await sendWebhook({ url: 'https://gone.example/webhook', headers: {}, body, allowedHosts: [], resolve });
    expect(result).toMatchObject({ status: null, error: expect.stringMatching(/^dns: host gone\.example could not be resolved \(ENOTFOUND\)/) });
    expect(classifyResponse(result.status)).toBe('retry');
  });
});

describe('sendWebhook fails softly on network trouble', () => {
  it('times out a receiver that accepts the connection and never answers', async () => {
    let connections = 0;
    const port = await rawServer(() => {
      connections += 1;
    });
    const result = await sendWebhook({ url: `http://127.0.0.1:${port}/webhook`, headers: {}, body, allowedHosts: LOOPBACK, timeoutMs: 300 });
    expect(connections).toBe(1);
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^timeout: no complete response within 300 ms/);
    expect(result.latencyMs).toBeGreaterThanOrEqual(290);
    expect(result.latencyMs).toBeLessThan(3_000);
  });

  it('counts a resolver that never answers against the same timeout', async () => {
    const hanging: ResolveHost = () => new Promise<string[]>(() => {});
    const result = await sendWebhook({ url: 'https://slow-dns.example/webhook', headers: {}, body, allowedHosts: [], resolve: hanging, timeoutMs: 200 });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^timeout/);
  });

  it('reports a refused connection as a network error instead of throwing', async () => {
    const closed = await receiver();
    const url = closed.url;
    await closed.close();
    const result = await sendWebhook({ url, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^network: ECONNREFUSED/);
  });

  it('reports a connection reset before any response as a network error', async () => {
    const port = await rawServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const result = await sendWebhook({ url: `http://127.0.0.1:${port}/webhook`, headers: {}, body, allowedHosts: LOOPBACK });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^network: (ECONNRESET|EPIPE)/);
  });
});
