/**
 * A partner's webhook endpoint on 127.0.0.1 (plain http, so tests must list 127.0.0.1 in the allowed
 * hosts). It records every request it gets and can play a partner that is down for its first attempts.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  /** 1 for the first request this receiver got. */
  attempt: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status this receiver answered with. */
  status: number;
}

export interface ReceiverResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface WebhookReceiverOptions {
  /** Answer the first N requests with failStatus. */
  failFirst?: number;
  /** Default 500. */
  failStatus?: number;
  /** How to answer once the first failFirst requests are over; default 204 with no body. */
  respond?: (request: Omit<ReceivedWebhook, 'status'>) => ReceiverResponse | Promise<ReceiverResponse>;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/webhook` */
  url: string;
  port: number;
  received: ReceivedWebhook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const failFirst = options.failFirst ?? 0;
  const failStatus = options.failStatus ?? 500;
  const received: ReceivedWebhook[] = [];
  let attempts = 0;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    attempts += 1;
    const request = {
      attempt: attempts,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    let answer: ReceiverResponse;
    try {
      answer =
        request.attempt <= failFirst
          ? { status: failStatus, body: 'partner is down' }
          : ((await options.respond?.(request)) ?? { status: 204 });
    } catch (error) {
      answer = { status: 500, body: String(error) };
    }
    received.push({ ...request, status: answer.status });
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    port,
    received,
    /** Stops listening and drops open connections; calling it again is harmless. */
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      })),
  };
}
