/**
 * Webhook endpoints in Chromium, as an org admin: add one (all errors at once, then the secret shown
 * once), send a test event to a partner that is down, read the attempts in the delivery log, retry it
 * once the partner is up, rotate the secret, delete the endpoint. Members, finance and forms without
 * the CSRF token are refused. Every page passes axe and is saved as a screenshot.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { webhooksModule } from '../../shared/http/modules.ts';
import { generateApiKey, putApiKey } from '../../shared/store/orgs.ts';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

let h: PortalHarness;
let receiver: WebhookReceiver;
beforeAll(async () => {
  h = await startPortal({ modules: [webhooksModule] });
  // The partner is down for its first request, then answers 204.
  receiver = await startWebhookReceiver({ failFirst: 1, failStatus: 503 });
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

/** Waits until the endpoint's newest delivery satisfies `done` (attempts run after the page answers). */
async function attempted(endpointId: string, done: (d: { status: string; responseStatus: number | null }) => boolean): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const [d] = (await h.t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`)).body.data as { status: string; responseStatus: number | null }[];
    if (d && done(d)) return;
    if (Date.now() > until) throw new Error(`the delivery's attempt was not recorded within 10 s: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('webhook endpoints page', () => {
  it('adds an endpoint (secret shown once), tests it, shows the attempts, retries, rotates and deletes it', async () => {
    const { t } = h;
    const { context, page } = await freshPage(h);
    await signIn(page, t.keys.customer);
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('heading', { name: 'Webhook endpoints', level: 1 }).waitFor();
    await checkPage(page, 'webhooks-empty');

    // Every error at once, each next to its field.
    await page.getByLabel('Endpoint URL').fill('ftp://partner.example/hook');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.locator('#webhook-events-error').textContent()).toContain('choose at least one event type');
    expect(await page.getByLabel('Endpoint URL').inputValue()).toBe('ftp://partner.example/hook');
    await checkPage(page, 'webhooks-errors');
    // The service's own refusal of the URL names the field.
    await page.getByLabel('reservation.confirmed').check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.locator('#webhook-url-error').waitFor();
    expect(await page.locator('#webhook-url-error').textContent()).toMatch(/Error: .+/);
    expect(await page.getByLabel('reservation.confirmed').isChecked()).toBe(true);

    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByLabel('Description (optional)').fill('Scheduler at Lumière');
    await page.getByLabel('invoice.paid').check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('heading', { name: 'Signing secret' }).waitFor();
    const secret = await page.getByRole('textbox', { name: 'Signing secret' }).inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{20,}$/);
    await checkPage(page, 'webhooks-created');
    const listed = (await t.call('GET', '/v1/webhook-endpoints')).body.data as { id: string; url: string; events: string[] }[];
    expect(listed).toMatchObject([{ url: receiver.url, events: ['reservation.confirmed', 'invoice.paid'] }]);
    const endpointId = listed[0]!.id;

    // Shown once: the list page and the endpoint page never show it again.
    await page.goto('/webhooks');
    expect(await page.content()).not.toContain(secret);
    await page.getByRole('link', { name: receiver.url }).click();
    await page.getByRole('heading', { name: `Webhook endpoint ${endpointId}` }).waitFor();
    expect(await page.content()).not.toContain(secret);

    // A test event to a partner that is down: queued at once, then the first attempt is logged with its answer.
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByRole('status').filter({ hasText: 'Test event sent.' }).waitFor();
    expect(await page.getByRole('status').filter({ hasText: 'Test event sent.' }).textContent()).toMatch(/is queued|HTTP 503/);
    const deliveryId = (await t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`)).body.data[0].id as string;
    await attempted(endpointId, (d) => d.responseStatus === 503);
    await page.reload();
    expect(await page.getByRole('status').filter({ hasText: 'Test event sent.' }).textContent()).toContain('HTTP 503');
    const row = page.getByRole('row').filter({ hasText: deliveryId });
    expect(await row.textContent()).toContain('pending');

    // Retried by hand once the partner is up: two attempts, the second a success, both signed with the secret.
    await page.getByRole('button', { name: `Retry delivery ${deliveryId}` }).click();
    await page.getByRole('status').filter({ hasText: 'Delivery retried.' }).waitFor();
    await attempted(endpointId, (d) => d.status === 'succeeded');
    await page.reload();
    expect(await page.getByRole('status').filter({ hasText: 'Delivery retried.' }).textContent()).toContain('succeeded after 2 attempts');
    // The two buttons counted against the org's webhook test/retry limit, as the API calls do.
    const limits = (await t.call('GET', '/v1/limits')).body.data as { name: string; used: number }[];
    expect(limits.find((l) => l.name.startsWith('webhook-tests'))?.used).toBe(2);
    await page.getByText(`2 attempts of ${deliveryId}`).click();
    expect(await row.getByRole('listitem').allTextContents()).toEqual([expect.stringContaining('HTTP 503'), expect.stringContaining('HTTP 204')]);
    await checkPage(page, 'webhook-endpoint');
    expect(receiver.received.map((r) => r.status)).toEqual([503, 204]);
    for (const r of receiver.received) {
      const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
      expect(headers['webhook-id']).toBe(deliveryId);
      // Verified as the partner would, at the (manual) time of the attempt.
      vi.useFakeTimers({ toFake: ['Date'], now: t.clock() });
      try {
        expect(new Webhook(secret).verify(r.body, headers)).toMatchObject({ type: 'webhook.test' });
      } finally {
        vi.useRealTimers();
      }
    }

    // Rotate: a new secret, shown once; the old one keeps signing for 24 hours.
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('heading', { name: 'New signing secret' }).waitFor();
    const rotated = await page.getByRole('textbox', { name: 'Signing secret' }).inputValue();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    expect(await page.getByRole('heading', { name: 'New signing secret' }).locator('..').textContent()).toContain('The previous secret keeps signing');
    await checkPage(page, 'webhook-rotated');

    // Keyboard: the delete button is reached and pressed without a mouse, and asks first.
    await page.getByRole('button', { name: 'Delete endpoint' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Delete this endpoint?' }).waitFor();
    await checkPage(page, 'webhook-delete-confirm');
    expect((await t.call('GET', `/v1/webhook-endpoints/${endpointId}`)).status).toBe(200);
    await page.getByRole('button', { name: 'Yes, delete the endpoint' }).click();
    await page.getByRole('status').filter({ hasText: `Endpoint ${endpointId} was deleted.` }).waitFor();
    expect((await t.call('GET', `/v1/webhook-endpoints/${endpointId}`)).status).toBe(404);

    // A form without the session's CSRF token is refused, and nothing is created.
    const forged = await context.request.post('/webhooks', { form: { url: receiver.url, events: '*' }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    expect((await t.call('GET', '/v1/webhook-endpoints')).body.data).toEqual([]);
    await context.close();
  }, 240_000);

  it('refuses members and other roles, and hides the entry from them', async () => {
    const { t } = h;
    const before = (await t.call('GET', '/v1/webhook-endpoints')).body.data.length as number;
    const member = generateApiKey('customer');
    await putApiKey(t.db, member, { keyId: 'key_member_portal', role: 'customer', orgId: 'org_lumiere', orgRole: 'member', siteId: null }, t.clock());
    for (const key of [member, t.keys.finance]) {
      const { context, page } = await freshPage(h);
      await signIn(page, key);
      expect(await page.getByRole('link', { name: 'Webhooks', exact: true }).count()).toBe(0);
      const res = await page.goto('/webhooks');
      expect(res?.status()).toBe(403);
      await page.getByRole('alert').waitFor();
      if (key === member) {
        expect(await page.getByRole('alert').textContent()).toContain('for your org’s admins');
        await checkPage(page, 'webhooks-forbidden');
      }
      await context.close();
    }
    expect((await t.call('GET', '/v1/webhook-endpoints')).body.data).toHaveLength(before);
  }, 120_000);
});
