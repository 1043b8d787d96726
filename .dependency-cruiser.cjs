/**
 * The layers and the one rule of each (docs/architecture.md): a module may import its own layer and
 * the layers below it, never one above, not even a type. Lowest first:
 *
 *   base (log, ids, config) <- domain <- store <- services <- billing, webhooks <- http <- portal
 *     <- compose <- functions, scripts
 *
 * billing and webhooks are siblings: neither imports the other. infra (CDK) may read the table's
 * declaration and key prefixes from the store, nothing else of the application.
 * Checked by test/unit/architecture.test.ts (part of `npm test`); `npx depcruise -c .dependency-cruiser.cjs shared functions scripts infra`
 * prints the same report.
 */
const BASE = '^shared/(log|ids|config)\\.ts$';
const LAYERS = [
  ['base', BASE],
  ['domain', '^shared/domain/'],
  ['store', '^shared/store/'],
  ['services', '^shared/services/'],
  ['billing', '^shared/billing/'],
  ['webhooks', '^shared/webhooks/'],
  ['http', '^shared/http/'],
  ['portal', '^shared/portal/'],
  ['compose', '^shared/compose/'],
  ['functions', '^(functions|scripts)/'],
];
/** What each layer may not import: every layer above it (siblings billing and webhooks: each other). */
const ABOVE = {
  base: ['domain', 'store', 'services', 'billing', 'webhooks', 'http', 'portal', 'compose', 'functions'],
  domain: ['store', 'services', 'billing', 'webhooks', 'http', 'portal', 'compose', 'functions'],
  store: ['services', 'billing', 'webhooks', 'http', 'portal', 'compose', 'functions'],
  services: ['billing', 'webhooks', 'http', 'portal', 'compose', 'functions'],
  billing: ['webhooks', 'http', 'portal', 'compose', 'functions'],
  webhooks: ['billing', 'http', 'portal', 'compose', 'functions'],
  http: ['portal', 'compose', 'functions'],
  portal: ['compose', 'functions'],
  compose: ['functions'],
  functions: [],
};
const pathOf = Object.fromEntries(LAYERS);
const either = (names) => names.map((n) => `(${pathOf[n]})`).join('|');

module.exports = {
  forbidden: [
    ...LAYERS.filter(([name]) => ABOVE[name].length > 0).map(([name, path]) => ({
      name: `${name}-imports-upward`,
      comment: `${name} may not import ${ABOVE[name].join(', ')} (docs/architecture.md)`,
      severity: 'error',
      from: { path },
      to: { path: either(ABOVE[name]) },
    })),
    {
      name: 'shared-file-outside-a-layer',
      comment: 'every file under shared/ belongs to a layer (a folder of docs/architecture.md, or log/ids/config)',
      severity: 'error',
      from: { path: '^shared/', pathNot: `${BASE}|^shared/(domain|store|services|billing|webhooks|http|portal|compose)/` },
      to: {},
    },
    {
      name: 'infra-imports-the-application',
      comment: 'infra may import the store (table declaration, key prefixes) and the base, nothing above',
      severity: 'error',
      from: { path: '^infra/' },
      to: { path: `^(shared|functions|scripts)/`, pathNot: `^shared/store/(db|keys|table)\\.ts$|${BASE}` },
    },
    {
      name: 'no-circular-across-layers',
      comment: 'a cycle between two layers is an upward import in disguise',
      severity: 'error',
      from: { path: '^shared/' },
      to: { circular: true, pathNot: '^shared/(portal|http|webhooks|billing|services|store|domain|compose)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|cdk\\.out|\\.local)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
