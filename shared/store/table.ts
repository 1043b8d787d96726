/**
 * The table's shape, declared once: the local table creation (`ensureTable`, store/db.ts) and the CDK
 * construct (infra/constructs/system-table.ts) both derive from it (docs/table-design.md).
 * Every key attribute is a string; every index projects all attributes.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Items with a `ttl` (epoch seconds) are deleted by DynamoDB after it. */
  ttlAttribute: 'ttl',
  /** The overloaded GSIs. */
  globalIndexes: [
    { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    { indexName: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  ],
  /** The outbox stream carries old and new images. */
  streamView: 'NEW_AND_OLD_IMAGES',
} as const;
