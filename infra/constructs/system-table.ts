import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE } from '../../shared/store/table.ts';
import type { StageConfig } from '../stage.ts';
import type { SystemTableRef } from './system-function.ts';

/** The overloaded GSIs of docs/table-design.md, as the store declares them (shared/store/table.ts). */
export const globalIndexes = TABLE.globalIndexes;

/**
 * The single table (docs/table-design.md): `pk`/`sk` strings, on-demand, point-in-time recovery,
 * TTL on `ttl`, the outbox stream with old and new images, two GSIs projecting everything.
 * In prod it is deletion-protected and retained when the stack goes.
 */
export class SystemTable extends Construct implements SystemTableRef {
  readonly table: Table;
  readonly indexNames: readonly string[] = globalIndexes.map((index) => index.indexName);

  constructor(scope: Construct, id: string, props: { readonly stage: StageConfig }) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE.ttlAttribute,
      stream: StreamViewType[TABLE.streamView],
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.stage.deletionProtection,
      removalPolicy: props.stage.removalPolicy,
    });
    for (const index of globalIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        projectionType: ProjectionType.ALL,
      });
    }
  }
}
