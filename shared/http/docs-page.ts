/**
 * The API reference at `/docs`: rendered on the server from the same OpenAPI document as
 * `/openapi.json`, plain HTML and one same-origin stylesheet. No script, no CDN: it works offline and
 * under a CSP that allows nothing but this origin's stylesheet.
 */

type Json = Record<string, unknown>;

export const DOCS_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const DOCS_CSS = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header,main{max-width:1100px;margin:0 auto;padding:0 1.25rem}
header{border-bottom:1px solid #d0d7de;padding-bottom:.5rem}
nav ul{columns:3;padding-left:1rem}
h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}
section.op{border:1px solid #d0d7de;border-radius:6px;padding:.25rem 1rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5em;font-weight:700;text-transform:uppercase}
.get{color:#0969da}.post{color:#1a7f37}.patch,.put{color:#9a6700}.delete{color:#cf222e}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
code{font:13px ui-monospace,monospace;background:#f6f8fa;padding:0 .2em}
`;

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const refName = (ref: string): string => ref.split('/').pop() ?? ref;

/** A short type expression: `Quote`, `string (date-time)`, `array of Reservation`, `"a" | "b"`. */
function typeOf(schema: Json | undefined): string {
  if (!schema) return '';
  if (typeof schema.$ref === 'string') return `<a href="#schema-${esc(refName(schema.$ref))}">${esc(refName(schema.$ref))}</a>`;
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (Array.isArray(schema[k])) return (schema[k] as Json[]).map(typeOf).join(k === 'allOf' ? ' & ' : ' | ');
  }
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : String(schema.type ?? 'object');
  if (type === 'array') return `array of ${typeOf(schema.items as Json | undefined)}`;
  return esc(type) + (schema.format ? ` (${esc(schema.format)})` : '');
}

function propertiesTable(schema: Json): string {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = Object.entries(props).map(
    ([name, p]) => `<tr><td><code>${esc(name)}</code>${required.has(name) ? ' *' : ''}</td><td>${typeOf(p)}</td><td>${esc(p.description)}</td></tr>`,
  );
  return rows.length ? `<table><tr><th>field</th><th>type</th><th>description</th></tr>${rows.join('')}</table>` : '';
}

function operation(method: string, path: string, op: Json): string {
  const params = ((op.parameters ?? []) as Json[]).map(
    (p) => `<tr><td><code>${esc(p.name)}</code>${p.required ? ' *' : ''}</td><td>${esc(p.in)}</td><td>${typeOf(p.schema as Json)}</td><td>${esc(p.description ?? (p.schema as Json | undefined)?.description)}</td></tr>`,
  );
  const body = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
  const bodies = Object.entries(body ?? {}).map(([type, media]) => `<p>Body <code>${esc(type)}</code>: ${typeOf(media.schema as Json)}</p>`);
  const responses = Object.entries((op.responses ?? {}) as Record<string, Json>).map(([status, r]) => {
    const content = Object.entries((r.content ?? {}) as Record<string, Json>).map(([type, media]) => `<code>${esc(type)}</code> ${typeOf(media.schema as Json)}`);
    return `<tr><td>${esc(status)}</td><td>${esc(r.description)}</td><td>${content.join('<br>')}</td></tr>`;
  });
  const security = Array.isArray(op.security) && op.security.length > 0 ? 'API key (<code>Authorization: Bearer …</code>)' : 'none';
  return `<section class="op" id="op-${esc(op.operationId)}">
<h3><span class="m ${esc(method)}">${esc(method)}</span> <code>${esc(path)}</code></h3>
<p><strong>${esc(op.summary)}</strong></p>${op.description ? `<p>${esc(op.description)}</p>` : ''}
<p>Authentication: ${security}</p>
${params.length ? `<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>${params.join('')}</table>` : ''}
${bodies.join('')}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses.join('')}</table>
</section>`;
}

/** The whole reference page for one OpenAPI document. */
export function renderDocsPage(doc: Json): string {
  const info = (doc.info ?? {}) as Json;
  const byTag = new Map<string, string[]>();
  const toc = new Map<string, string[]>();
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = ((op.tags as string[] | undefined) ?? ['Other'])[0]!;
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(method, path, op)]);
      toc.set(tag, [...(toc.get(tag) ?? []), `<li><a href="#op-${esc(op.operationId)}">${esc(method.toUpperCase())} ${esc(path)}</a></li>`]);
    }
  }
  const schemas = Object.entries((((doc.components ?? {}) as Json).schemas ?? {}) as Record<string, Json>).map(
    ([name, s]) => `<section class="op" id="schema-${esc(name)}"><h3>${esc(name)}</h3>${s.description ? `<p>${esc(s.description)}</p>` : ''}<p>${typeOf({ ...s, $ref: undefined })}</p>${propertiesTable(s)}</section>`,
  );
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title)} reference</title><link rel="stylesheet" href="/docs.css"></head><body>
<header><h1>${esc(info.title)} <small>${esc(info.version)}</small></h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<nav>${[...toc].map(([tag, items]) => `<h4>${esc(tag)}</h4><ul>${items.join('')}</ul>`).join('')}<h4><a href="#schemas">Schemas</a></h4></nav></header>
<main>${[...byTag].map(([tag, ops]) => `<h2>${esc(tag)}</h2>${ops.join('')}`).join('')}
<h2 id="schemas">Schemas</h2>${schemas.join('')}</main></body></html>`;
}
