/** The portal's one price-line table: what it renders, and that no other view renders price lines itself. */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eur } from '#domain/money.ts';
import { invoiceTotals } from '#domain/vat.ts';
import { PriceLines, vatTotals } from '#portal/views/price-lines.tsx';

describe('PriceLines', () => {
  it('renders each line as a row named by its description, the totals, and the mention', async () => {
    const lines = [
      { description: '8 GPUs × 24 h × €2.95/GPU-h', amount: eur(56_640), gpuSeconds: 8 * 24 * 3600, unitPrice: eur(295) },
      { description: 'Duration discount', amount: eur(-2_832), gpuSeconds: null, unitPrice: null },
    ];
    const t = invoiceTotals(lines.map((l) => l.amount), 2000);
    const html = String(await (<PriceLines caption="Lines of inv_1" detail lines={lines} totals={vatTotals({ ...t, rateBps: 2000 })} mention="Autoliquidation" />));
    expect(html).toContain('<caption>Lines of inv_1</caption>');
    expect(html).toContain('<th scope="row">8 GPUs × 24 h × €2.95/GPU-h</th><td class="num">192</td><td class="num">€2.95</td><td class="num">€566.40</td>');
    expect(html).toContain('<th scope="row">Duration discount</th><td class="num">—</td><td class="num">—</td><td class="num">-€28.32</td>');
    // 53 808 × 20 % = 10 761.6 → 10 762, once on the subtotal.
    expect(html).toContain('<th scope="row" colspan="3">VAT (20 %)</th><td class="num">€107.62</td>');
    expect(html).toContain('<th scope="row" colspan="3">Total including VAT</th><td class="num total">€645.70</td>');
    expect(html).toContain('<td colspan="4" class="hint">Autoliquidation</td>');
  });

  it('is the only view that draws a price-line table', () => {
    const dir = new URL('../../shared/portal/views/', import.meta.url);
    const drawing = readdirSync(dir).filter((f) => f !== 'price-lines.tsx' && /<th scope="col">\s*Line\s*<\/th>/.test(readFileSync(new URL(f, dir), 'utf8')));
    expect(drawing).toEqual([]);
  });
});
