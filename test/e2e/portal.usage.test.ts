/** The default usage source of the portal: charts read the metering aggregates in the table. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { portalModule } from '../../shared/portal/module.tsx';
import { transact } from '../../shared/store/transact.ts';
import { shardOf } from '../../shared/store/usage.ts';
import { incrementItem, incrementsOf } from '../../shared/store/usage-increments.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ start: '2026-11-24T10:00:00Z', modules: [portalModule] });
});
afterAll(() => t.close());

async function meter(reservation: { id: string; orgId: string; poolId: string }, epochHour: number, gpuSeconds: number, eventId: string) {
  const piece = { reservationId: reservation.id, orgId: reservation.orgId, poolId: reservation.poolId, onDemand: true, epochHour, gpuSeconds };
  await transact(t.db, incrementsOf(piece, shardOf(eventId)).map((inc) => incrementItem(t.db, inc)));
}

it('charts GPU-hours per hour of a running reservation from the metered aggregates, summed over shards', async () => {
  const principal = { keyId: 'k', role: 'customer' as const, orgId: 'org_lumiere', orgRole: 'admin' as const, siteId: null };
  const od = await t.deps.booking.startOnDemand(principal, { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8 });
  const firstHour = Math.floor(Date.parse(od.start) / 3600_000);
  await meter(od, firstHour, 8 * 3600, 'evt-a');
  await meter(od, firstHour + 1, 4 * 3600, 'evt-b');
  await meter(od, firstHour + 1, 2 * 3600, 'evt-c-other-shard');
  t.clock.advance(2 * 3600_000 + 60_000);

  const signIn = await t.app.request('http://portal.test/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'portal.test' },
    body: new URLSearchParams({ apiKey: t.keys.customer }).toString(),
  });
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await t.app.request('http://portal.test/reservations', { headers: { cookie, host: 'portal.test' } })).text();
  expect(page).toContain(`Usage of ${od.id}: GPU-hours metered per hour`);
  expect(page).toContain('14 GPU-hours metered over 3 hours from 2026-11-24 10:00 UTC');
  expect(page).toMatch(/2026-11-24 11:00 UTC<\/th><td class="num">6<\/td>/);
  expect(page).toMatch(/2026-11-24 12:00 UTC<\/th><td class="num">0<\/td>/);
});
