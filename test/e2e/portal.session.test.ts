/**
 * The portal's session and CSRF rules, in-process (app.request): what the cookie holds, what the
 * table holds, which requests are refused, and that errors are pages, never 500s.
 */
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eur } from '../../shared/domain/money.ts';
import { createPortalModule } from '../../shared/portal/module.tsx';
import type { PortalInvoice, PortalInvoices } from '../../shared/portal/invoices.ts';
import type { PortalUsage } from '../../shared/portal/usage.ts';
import { revokeApiKeyById } from '../../shared/store/orgs.ts';
import { generateApiKey, putApiKey } from '../../shared/store/orgs.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

const invoice = (over: Partial<PortalInvoice>): PortalInvoice => ({
  id: 'inv_1',
  orgId: 'org_lumiere',
  period: '2026-11',
  reservationId: null,
  lines: [{ description: 'GPU-hours', amount: eur(100_000) }],
  subtotal: eur(100_000),
  tax: eur(20_000),
  total: eur(120_000),
  status: 'open',
  stripeInvoiceId: 'in_1',
  hostedInvoiceUrl: 'https://invoice.stripe.com/i/acct_1/inv_1',
  pdfUrl: 'https://pay.stripe.com/invoice/acct_1/inv_1/pdf',
  createdAt: '2026-11-20T10:00:00Z',
  ...over,
});

const INVOICES: PortalInvoice[] = [
  invoice({}),
  invoice({ id: 'inv_2', orgId: 'org_rheinwerk', tax: eur(0), total: eur(100_000), status: 'paid', hostedInvoiceUrl: 'javascript:alert(1)', pdfUrl: null }),
  invoice({ id: 'inv_3', orgId: 'org_rheinwerk', tax: eur(0), total: eur(250_050), status: 'uncollectible', period: '2026-10' }),
];
const invoiceCalls: { orgId: string | null; filters: unknown }[] = [];
const invoices: PortalInvoices = {
  async list(orgId, filters) {
    invoiceCalls.push({ orgId, filters });
    return INVOICES.filter((i) => (orgId === null || i.orgId === orgId) && (!filters.period || i.period === filters.period) && (!filters.status || i.status === filters.status));
  },
};
const usageOfReservation = new Map<string, Map<number, number>>();
const usage: PortalUsage = { gpuSecondsByHour: async (id) => usageOfReservation.get(id) ?? new Map() };

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [createPortalModule({ invoices, usage })] });
});
afterAll(() => t.close());

const ORIGIN = 'http://portal.test';

async function request(path: string, init: { method?: string; cookie?: string; form?: Record<string, string>; headers?: Record<string, string>; origin?: string } = {}) {
  const headers: Record<string, string> = { host: 'portal.test', ...(init.headers ?? {}) };
  if (init.cookie) headers.cookie = init.cookie;
  let body: string | undefined;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.origin = init.origin ?? ORIGIN;
  }
  const res = await t.app.request(`${ORIGIN}${path}`, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const csrfOf = (html: string): string => {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return m[1]!;
};

async function signIn(key: string): Promise<{ cookie: string; setCookie: string; csrf: string }> {
  const res = await request('/sign-in', { form: { apiKey: key, next: '/' } });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0]!;
  const home = await request('/key', { cookie });
  expect(home.status).toBe(200);
  return { cookie, setCookie, csrf: csrfOf(home.text) };
}

const quoteForm = (csrf: string, over: Record<string, string> = {}) => ({
  csrf,
  site: 'valence-rovaltain',
  gpuType: 'h100-sxm-80gb',
  gpus: '8',
  start: hoursFrom(t.clock, 24 * 20).slice(0, 16),
  end: hoursFrom(t.clock, 24 * 20 + 4).slice(0, 16),
  ...over,
});

describe('signing in', () => {
  it('sends visitors without a session to the sign-in page, which has an "API key" field and a "Sign in" button', async () => {
    const root = await request('/');
    expect(root.status).toBe(303);
    expect(root.headers.get('location')).toBe('/sign-in');
    const book = await request('/book?site=marseille');
    expect(book.status).toBe(303);
    expect(book.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent('/book?site=marseille')}`);
    const page = await request('/sign-in');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<label for="api-key">API key<\/label>/);
    expect(page.text).toMatch(/<input type="password" id="api-key" name="apiKey"/);
    expect(page.text).toContain('<button type="submit">Sign in</button>');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('exchanges the key for a random session id in an HttpOnly, SameSite=Lax cookie; the table keeps the principal, never the key', async () => {
    const { setCookie, cookie } = await signIn(t.keys.customer);
    expect(setCookie).toMatch(/^gm_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure');
    const sessionId = cookie.split('=')[1]!;
    expect(setCookie).not.toContain(t.keys.customer);
    const items = (await t.db.doc.send(new ScanCommand({ TableName: t.db.table }))).Items ?? [];
    const sessions = items.filter((i) => i.entity === 'portalSession');
    expect(sessions.length).toBeGreaterThan(0);
    const stored = JSON.stringify(sessions);
    expect(stored).not.toContain(t.keys.customer);
    expect(stored).not.toContain(sessionId);
    expect(sessions.some((s) => s.principal.orgId === 'org_lumiere' && s.principal.role === 'customer')).toBe(true);
    for (const s of sessions) expect(s.ttl - Math.floor(t.clock().getTime() / 1000)).toBe(12 * 3600);
  });

  it('over https the cookie is __Host-gm_session and always Secure; a client-sent x-forwarded-proto decides nothing', async () => {
    const res = await t.app.request('https://portal.test/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'portal.test', origin: 'https://portal.test' },
      body: new URLSearchParams({ apiKey: t.keys.customer }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly.*Secure|Secure.*HttpOnly/);
    expect(res.headers.get('set-cookie')).toMatch(/^__Host-gm_session=[A-Za-z0-9_-]{43};.*Path=\/(;|$)/);
    expect(res.headers.get('set-cookie')).not.toContain('Domain=');
    const proxied = await request('/sign-in', { form: { apiKey: t.keys.finance }, headers: { 'x-forwarded-proto': 'https' } });
    expect(proxied.headers.get('set-cookie')).toMatch(/^gm_session=/);
    expect(proxied.headers.get('set-cookie')).not.toContain('Secure');
  });

  it('refuses a bad, empty or revoked key with a visible alert naming the field, and sets no cookie', async () => {
    const bad = await request('/sign-in', { form: { apiKey: 'gm_live_not-a-real-key-at-all' } });
    expect(bad.status).toBe(401);
    expect(bad.text).toMatch(/role="alert"[^>]*>[\s\S]*API key: this key is not valid or has been revoked/);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const empty = await request('/sign-in', { form: { apiKey: '   ' } });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('API key: paste your API key');
    const garbage = await request('/sign-in', { form: { apiKey: '<script>alert(1)</script>' } });
    expect(garbage.status).toBe(401);
    expect(garbage.text).not.toContain('<script>alert(1)</script>');
  });

  it('goes back to a local `next` after sign-in, never to another site', async () => {
    const local = await request('/sign-in', { form: { apiKey: t.keys.customer, next: '/reservations' } });
    expect(local.headers.get('location')).toBe('/reservations');
    for (const next of ['//evil.example/x', 'https://evil.example', '/\\evil.example']) {
      const res = await request('/sign-in', { form: { apiKey: t.keys.customer, next } });
      expect(res.headers.get('location')).toBe('/find');
    }
  });

  it('ends the session at sign-out, after 12 hours, and when the key is revoked', async () => {
    const a = await signIn(t.keys.customer);
    const out = await request('/sign-out', { cookie: a.cookie, form: { csrf: a.csrf } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/sign-in?signed-out=1');
    expect(out.headers.get('set-cookie')).toMatch(/gm_session=;.*Max-Age=0/);
    expect((await request('/book', { cookie: a.cookie })).status).toBe(303);

    const b = await signIn(t.keys.customer);
    t.clock.advance(12 * 3600_000 - 1000);
    expect((await request('/book', { cookie: b.cookie })).status).toBe(200);
    t.clock.advance(1000);
    expect((await request('/book', { cookie: b.cookie })).status).toBe(303);
    t.clock.advance(-12 * 3600_000);

    const key = generateApiKey('customer');
    await putApiKey(t.db, key, { keyId: 'key_portal_revoke', role: 'customer', orgId: 'org_lumiere', orgRole: 'member', siteId: null }, t.clock());
    const c = await signIn(key);
    expect((await request('/book', { cookie: c.cookie })).status).toBe(200);
    await revokeApiKeyById(t.db, 'key_portal_revoke');
    expect((await request('/book', { cookie: c.cookie })).status).toBe(303);
  });

  it('ignores forged or malformed session cookies', async () => {
    for (const cookie of ['gm_session=' + 'A'.repeat(43), 'gm_session=abc', `gm_session=${t.keys.customer}`]) {
      const res = await request('/book', { cookie });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toContain('/sign-in');
    }
  });
});

describe('CSRF and origin rules on form posts', () => {
  it('refuses a post without the token, with another session’s token, or from another origin', async () => {
    const a = await signIn(t.keys.customer);
    const b = await signIn(t.keys.customer);
    const missing = await request('/book/quote', { cookie: a.cookie, form: { ...quoteForm(a.csrf), csrf: '' } });
    expect(missing.status).toBe(403);
    expect(missing.text).toContain('role="alert"');
    const foreign = await request('/book/quote', { cookie: a.cookie, form: quoteForm(b.csrf) });
    expect(foreign.status).toBe(403);
    const crossSite = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf), origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    const fetchSite = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf), headers: { 'sec-fetch-site': 'cross-site' } });
    expect(fetchSite.status).toBe(403);
    const signInCrossSite = await request('/sign-in', { form: { apiKey: t.keys.customer }, origin: 'https://evil.example' });
    expect(signInCrossSite.status).toBe(403);
    expect(signInCrossSite.headers.get('set-cookie')).toBeNull();
    const ok = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf) });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/^\/book\?quote=qt_/);
  });

  it('refuses a POST without a session by sending it to sign in, changing nothing', async () => {
    const res = await request('/book/quote', { form: quoteForm('x') });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/sign-in');
  });

  it('refuses form bodies over 16 KiB', async () => {
    const a = await signIn(t.keys.customer);
    const res = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { site: 'x'.repeat(20_000) }) });
    expect(res.status).toBe(413);
  });
});

describe('roles and tenants', () => {
  it('shows each role its own pages and a 403 page elsewhere', async () => {
    const finance = await signIn(t.keys.finance);
    expect((await request('/book', { cookie: finance.cookie })).status).toBe(403);
    expect((await request('/receivables', { cookie: finance.cookie })).status).toBe(200);
    const customer = await signIn(t.keys.customer);
    const refused = await request('/receivables', { cookie: customer.cookie });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('The Receivables page is for finance keys');
    const meter = await signIn(t.keys.meter);
    const key = await request('/key', { cookie: meter.cookie });
    expect(key.text).toContain('This is a meter key for site valence-rovaltain');
    expect((await request('/sites', { cookie: meter.cookie })).status).toBe(403);
  });

  it('never shows another org’s quote or reservation', async () => {
    const a = await signIn(t.keys.customer);
    const quoted = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { gpus: '16' }) });
    const quoteId = new URLSearchParams(quoted.headers.get('location')!.split('?')[1]).get('quote')!;
    const held = await request('/book/reserve', { cookie: a.cookie, form: { csrf: a.csrf, quoteId } });
    const reservationId = new URLSearchParams(held.headers.get('location')!.split('?')[1]).get('reservation')!;
    const other = await signIn(t.keys.customer2);
    expect((await request(`/book?quote=${quoteId}`, { cookie: other.cookie })).status).toBe(404);
    expect((await request(`/book?reservation=${reservationId}`, { cookie: other.cookie })).status).toBe(404);
    const stolen = await request(`/book/reserve`, { cookie: other.cookie, form: { csrf: other.csrf, quoteId } });
    expect(stolen.status).toBe(404);
    const cancel = await request(`/reservations/${reservationId}/cancel`, { cookie: other.cookie, form: { csrf: other.csrf } });
    expect(cancel.status).toBe(404);
    expect(cancel.text).toContain('role="alert"');
    const mine = await request(`/book?reservation=${reservationId}`, { cookie: a.cookie });
    expect(mine.text).toContain('<button type="submit">Confirm</button>');
  });
});

describe('the Book flow in-process', () => {
  it('names the field in a role="alert" for validation, 409 capacity and 410 expired quotes; never a 500', async () => {
    const a = await signIn(t.keys.customer);
    const empty = await request('/book/quote', { cookie: a.cookie, form: { csrf: a.csrf, site: '', gpuType: '', gpus: 'many', start: 'soon', end: '' } });
    expect(empty.status).toBe(400);
    for (const text of ['Site: choose a site', 'GPU type: choose a GPU type', 'GPUs: enter a whole number', 'Start: &quot;soon&quot; is not a UTC date', 'End: enter a UTC date']) {
      expect(empty.text).toContain(text);
    }
    expect(empty.text).toMatch(/id="gpus"[^>]*aria-describedby="gpus-hint gpus-error"[^>]*aria-invalid="true"/);

    const odd = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { gpus: '12' }) });
    expect(odd.status).toBe(400);
    expect(odd.text).toContain('GPUs: must be a multiple of 8');
    const halfHour = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { start: hoursFrom(t.clock, 30).replace(':00:00Z', ':30') }) });
    expect(halfHour.text).toContain('Start: must be a whole UTC hour');

    const full = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { site: 'Marseille', gpuType: 'B200', gpus: '136' }) });
    expect(full.status).toBe(400);
    expect(full.text).toContain('GPUs: this pool has 128 GPUs');
    const all = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { site: 'Marseille', gpuType: 'B200', gpus: '128' }) });
    const quoteId = new URLSearchParams(all.headers.get('location')!.split('?')[1]).get('quote')!;
    const quotePage = await request(`/book?quote=${quoteId}`, { cookie: a.cookie });
    expect(quotePage.text).toContain('<button type="submit">Reserve</button>');
    expect(quotePage.text).toMatch(/Total \(excluding VAT\)[\s\S]*€[\d,]+\.\d\d/);
    expect((await request('/book/reserve', { cookie: a.cookie, form: { csrf: a.csrf, quoteId } })).status).toBe(303);
    const taken = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: '8' }) });
    expect(taken.status).toBe(409);
    expect(taken.text).toMatch(/role="alert"[\s\S]*GPUs: Only 0 GPUs are free/);

    const later = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { gpus: '8' }) });
    const laterId = new URLSearchParams(later.headers.get('location')!.split('?')[1]).get('quote')!;
    t.clock.advance(16 * 60_000);
    const expired = await request('/book/reserve', { cookie: a.cookie, form: { csrf: a.csrf, quoteId: laterId } });
    expect(expired.status).toBe(410);
    expect(expired.text).toMatch(/role="alert"[\s\S]*Quote qt_\w+ expired/);
    expect(expired.text).toContain(`Quote ${laterId}`);
  });

  it('confirms, extends and cancels from the reservations list and charts metered usage', async () => {
    const a = await signIn(t.keys.customer);
    const q = await request('/book/quote', { cookie: a.cookie, form: quoteForm(a.csrf, { site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', gpus: '16' }) });
    const quoteId = new URLSearchParams(q.headers.get('location')!.split('?')[1]).get('quote')!;
    const held = await request('/book/reserve', { cookie: a.cookie, form: { csrf: a.csrf, quoteId } });
    const id = new URLSearchParams(held.headers.get('location')!.split('?')[1]).get('reservation')!;
    const confirmed = await request(`/reservations/${id}/confirm`, { cookie: a.cookie, form: { csrf: a.csrf } });
    expect(confirmed.headers.get('location')).toBe(`/reservations?done=confirmed&id=${id}`);
    const end = (await t.db.doc.send(new GetCommand({ TableName: t.db.table, Key: { pk: 'ORG#org_lumiere', sk: `RES#${id}` } }))).Item!.reservation.end as string;
    const badExtend = await request(`/reservations/${id}/extend`, { cookie: a.cookie, form: { csrf: a.csrf, end: 'tomorrow' } });
    expect(badExtend.status).toBe(400);
    expect(badExtend.text).toContain('New end: &quot;tomorrow&quot; is not a UTC date and time');
    const newEnd = new Date(Date.parse(end) + 2 * 3600_000).toISOString().slice(0, 16);
    const extended = await request(`/reservations/${id}/extend`, { cookie: a.cookie, form: { csrf: a.csrf, end: newEnd } });
    expect(extended.status).toBe(303);
    const list = await request(extended.headers.get('location')!, { cookie: a.cookie });
    expect(list.text).toContain(`Reservation ${id} now ends ${newEnd.replace('T', ' ')} UTC`);
    const cancelled = await request(`/reservations/${id}/cancel`, { cookie: a.cookie, form: { csrf: a.csrf } });
    const after = await request(cancelled.headers.get('location')!, { cookie: a.cookie });
    expect(after.text).toMatch(new RegExp(`Reservation ${id} is cancelled. Refund: €[\\d,]+\\.\\d\\d \\(100 %`));
    const again = await request(`/reservations/${id}/cancel`, { cookie: a.cookie, form: { csrf: a.csrf } });
    expect(again.status).toBe(409);
    expect(again.text).toContain('role="alert"');

    const od = await t.deps.booking.startOnDemand({ keyId: 'k', role: 'customer', orgId: 'org_lumiere', orgRole: 'admin', siteId: null }, { site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8 });
    const startHour = Math.floor(Date.parse(od.start) / 3600_000);
    usageOfReservation.set(od.id, new Map([[startHour, 8 * 1800]]));
    t.clock.advance(3 * 3600_000);
    const withUsage = await request('/reservations', { cookie: a.cookie });
    expect(withUsage.text).toContain(`Usage of ${od.id}`);
    expect(withUsage.text).toMatch(/<svg[^>]*role="img"[^>]*aria-labelledby="usage-chart-[^"]+-title" aria-describedby="usage-chart-[^"]+-desc"/);
    expect(withUsage.text).toContain('4 GPU-hours metered over 4 hours');
    const stop = await request(`/reservations/${od.id}/stop`, { cookie: a.cookie, form: { csrf: a.csrf } });
    expect(stop.headers.get('location')).toBe(`/reservations?done=stopped&id=${od.id}`);
    t.clock.advance(-3 * 3600_000);
  });
});

describe('sites, invoices and finance pages', () => {
  it('shows sites and pools with a 30-day availability chart and its table', async () => {
    const a = await signIn(t.keys.customer);
    const sites = await request('/sites', { cookie: a.cookie });
    expect(sites.status).toBe(200);
    expect(sites.text).toContain('<h2 id="site-valence-rovaltain">Valence–Rovaltain</h2>');
    expect(sites.text.match(/<svg[^>]*role="img"/g)).toHaveLength(8);
    expect(sites.text).toContain('Availability of H100 SXM 80GB at Valence–Rovaltain: free GPUs per day: table');
    expect(sites.text).toContain('<th scope="col">GPU type</th>');
    expect(sites.text).toContain('€2.49');
  });

  it('lists a customer’s own invoices with Stripe links and formatted money, and nothing of other orgs', async () => {
    const a = await signIn(t.keys.customer);
    const page = await request('/invoices', { cookie: a.cookie });
    expect(page.text).toContain('inv_1');
    expect(page.text).toContain('€1,200.00');
    expect(page.text).toContain('href="https://invoice.stripe.com/i/acct_1/inv_1"');
    expect(page.text).not.toContain('inv_2');
    expect(invoiceCalls.at(-1)).toEqual({ orgId: 'org_lumiere', filters: {} });
  });

  it('shows finance every org’s invoices of a period, the CSV link and receivables; unsafe links are dropped', async () => {
    const f = await signIn(t.keys.finance);
    const page = await request('/invoices?period=2026-11', { cookie: f.cookie });
    expect(page.status).toBe(200);
    expect(invoiceCalls.at(-1)).toEqual({ orgId: null, filters: { period: '2026-11' } });
    expect(page.text).toContain('Lumière AI SAS');
    expect(page.text).toContain('Rheinwerk Labs GmbH');
    expect(page.text).toContain('href="/v1/invoices/export.csv?period=2026-11"');
    expect(page.text).toContain('>Download CSV</a>');
    expect(page.text).not.toContain('javascript:');
    expect(page.text).toContain('€2,200.00');
    const bad = await request('/invoices?period=2026-13', { cookie: f.cookie });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Period: &quot;2026-13&quot; is not a month');
    const receivables = await request('/receivables', { cookie: f.cookie });
    expect(receivables.text).toContain('Outstanding: <strong>€1,200.00</strong>');
    expect(receivables.text).toContain('€2,500.50');
  });
});
