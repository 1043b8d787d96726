/**
 * The finishing pass over the generated OpenAPI document, so that it says exactly what the API sends.
 *
 * zod-to-openapi renders `Registered.nullable()` as `allOf: [{$ref}, {type: [object, null]}]`, which
 * `null` can never satisfy (every branch of an allOf must hold and the referenced schema is an
 * object). Here it becomes `anyOf: [{$ref}, {type: null}]`, keeping the description beside it. The pass
 * is generic so a route added later with `.nullable()` on a registered schema is right too; the
 * contract test (test/integration/contract.test.ts) validates real responses against the result.
 *
 * Integers: zod's `.int()` accepts safe integers only, so every `type: integer` without bounds or a
 * format is stated as what zod enforces: `format: int64`, ±(2^53 − 1). Tighter bounds written on a
 * schema are kept.
 */
type Node = Record<string, unknown>;

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function nullableRef(node: Node): Node | null {
  const allOf = node.allOf;
  if (!Array.isArray(allOf) || allOf.length !== 2) return null;
  const [ref, extra] = allOf as unknown[];
  if (!isNode(ref) || typeof ref.$ref !== 'string' || !isNode(extra)) return null;
  const type = extra.type;
  if (!Array.isArray(type) || !type.includes('null')) return null;
  const { type: _type, ...rest } = extra;
  const { allOf: _allOf, ...siblings } = node;
  return { ...siblings, ...rest, anyOf: [ref, { type: 'null' }] };
}

const isInteger = (node: Node) => node.type === 'integer' || (Array.isArray(node.type) && node.type.includes('integer'));

function safeInteger(node: Node): Node {
  if (!isInteger(node)) return node;
  return {
    ...node,
    ...(node.format === undefined ? { format: 'int64' } : {}),
    ...(node.minimum === undefined && node.exclusiveMinimum === undefined ? { minimum: Number.MIN_SAFE_INTEGER } : {}),
    ...(node.maximum === undefined && node.exclusiveMaximum === undefined ? { maximum: Number.MAX_SAFE_INTEGER } : {}),
  };
}

function walk(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(walk);
  if (!isNode(value)) return value;
  const replaced = safeInteger(nullableRef(value) ?? value);
  return Object.fromEntries(Object.entries(replaced).map(([k, v]) => [k, walk(v)]));
}

export function finishOpenApiDocument<T>(doc: T): T {
  return walk(doc) as T;
}
