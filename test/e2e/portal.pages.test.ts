/**
 * Every portal page that no flow test visits gets its axe check, width checks and screenshots here:
 * sign-in (used from the keyboard alone), Find capacity, Reservations, the customer's Invoices, Budget,
 * a 403 page, and the operator's Fleet (scheduling a capacity change through its form, and a refusal),
 * Audit log and key page. The other pages are checked by the flow tests (docs/portal.md lists them all).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursFrom } from '../support/app.ts';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';

let h: PortalHarness;
beforeAll(async () => {
  h = await startPortal();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('portal pages', () => {
  it('signs in with the keyboard alone, and the customer pages pass axe at both widths', async () => {
    const { t } = h;
    // Something to list: a confirmed reservation and its invoice.
    const quote = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, 72), end: hoursFrom(t.clock, 96) } });
    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
    expect((await t.call('POST', `/v1/reservations/${held.body.id}/confirm`)).status).toBe(200);

    const { context, page } = await freshPage(h);
    await page.goto('/sign-in');
    await checkPage(page, 'sign-in');
    // Keyboard only: Tab to the field, type the key, Enter submits.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to main content');
    let guard = 0;
    while ((await page.evaluate(() => document.activeElement?.id)) !== 'api-key' && guard++ < 10) await page.keyboard.press('Tab');
    expect(await page.getByLabel('API key').evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.type(t.keys.customer);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await page.getByRole('link', { name: 'Find capacity', exact: true }).click();
    await page.getByRole('heading', { name: 'Find capacity', level: 1 }).waitFor();
    await checkPage(page, 'find');
    await page.getByRole('link', { name: 'Reservations', exact: true }).click();
    await page.getByRole('link', { name: held.body.id }).waitFor();
    await checkPage(page, 'reservations');
    await page.getByRole('link', { name: 'Invoices', exact: true }).click();
    await page.getByRole('table', { name: /Your invoices/ }).waitFor();
    await checkPage(page, 'customer-invoices');
    await page.getByRole('link', { name: 'Budget', exact: true }).click();
    await page.getByRole('heading', { name: 'Budget', level: 1 }).waitFor();
    await checkPage(page, 'budget');
    const forbidden = await page.goto('/fleet');
    expect(forbidden?.status()).toBe(403);
    await page.getByRole('alert').waitFor();
    await checkPage(page, 'forbidden');
    await context.close();
  }, 300_000);

  it('operator: the Fleet page schedules a capacity change through its form, shows a refusal, and the Audit log and key pages pass axe', async () => {
    const { t } = h;
    const { context, page } = await freshPage(h);
    await signIn(page, t.keys.operator);
    await page.getByRole('link', { name: 'Fleet', exact: true }).click();
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).count()).toBe(1);
    await checkPage(page, 'fleet');

    await page.getByLabel('Capacity of marseille-b200 from (UTC)').fill('2027-02-01T00:00');
    await page.getByLabel('Total GPUs of marseille-b200').fill('256');
    await page.getByRole('button', { name: 'Schedule capacity change for marseille-b200' }).click();
    await page.getByRole('status').filter({ hasText: 'Capacity change scheduled for marseille-b200.' }).waitFor();
    expect(await page.getByRole('region', { name: 'marseille-b200' }).textContent()).toContain(': 256 GPUs.');
    expect((await t.call('GET', '/v1/pools/marseille-b200/capacity-changes', { key: t.keys.operator })).body.data).toMatchObject([{ effectiveFrom: '2027-02-01T00:00:00.000Z', totalGpus: 256 }]);
    await checkPage(page, 'fleet-scheduled');

    // A change in the past (the browser lets the form through; whole nodes it checks itself): refused
    // by the same rules as the API, said in an alert, nothing written.
    await page.getByLabel('Capacity of marseille-b200 from (UTC)').fill('2026-01-01T00:00');
    await page.getByLabel('Total GPUs of marseille-b200').fill('512');
    await page.getByRole('button', { name: 'Schedule capacity change for marseille-b200' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/effectiveFrom/);
    expect((await t.call('GET', '/v1/pools/marseille-b200/capacity-changes', { key: t.keys.operator })).body.data).toHaveLength(1);
    await checkPage(page, 'fleet-refused');

    await page.getByRole('link', { name: 'Audit log', exact: true }).click();
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).count()).toBe(1);
    await checkPage(page, 'audit');
    await page.getByRole('link', { name: 'Your key', exact: true }).click();
    await page.getByRole('heading', { name: 'What your key can do' }).waitFor();
    await checkPage(page, 'key');
    await context.close();
  }, 300_000);
});
