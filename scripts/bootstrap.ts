/**
 * `npm run bootstrap -- --stage prod`: the first start of a deployed stack. Writes the catalog of
 * infra/catalog.json to the stack's table and creates the first operator key, printed once.
 * Idempotent. The table is the stack's `TableName` output (read with the AWS CLI), or `--table`;
 * `--endpoint` points at another DynamoDB (DynamoDB Local). Credentials and region are the AWS SDK's
 * usual ones (AWS_PROFILE, AWS_REGION, …).
 */
import { execFileSync } from 'node:child_process';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { Command } from 'commander';
import { bootstrapStack } from '../shared/services/bootstrap.ts';
import { createIdGenerator, systemClock } from '../shared/ids.ts';
import { createDocumentClient } from '../shared/store/db.ts';

const program = new Command()
  .name('npm run bootstrap --')
  .description('Write the catalog (infra/catalog.json) to a deployed stack and create its first operator key, once.')
  .option('--stage <stage>', 'stack stage: reads the table from the outputs of GpuMarket-<stage>', 'dev')
  .option('--table <name>', 'table name (instead of reading the stack outputs)')
  .option('--region <region>', 'AWS region', process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'eu-west-3')
  .option('--endpoint <url>', 'DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local')
  .parse();

const options = program.opts<{ stage: string; table?: string; region: string; endpoint?: string }>();

function tableFromStack(stage: string, region: string): string {
  const stack = `GpuMarket-${stage}`;
  try {
    const out = execFileSync(
      'aws',
      ['cloudformation', 'describe-stacks', '--stack-name', stack, '--region', region, '--query', "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue", '--output', 'text'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    ).trim();
    if (!out || out === 'None') throw new Error(`stack ${stack} has no TableName output`);
    return out;
  } catch (error) {
    const detail = error instanceof Error ? ((error as { stderr?: string }).stderr?.trim() || error.message) : String(error);
    throw new Error(`Could not read the TableName output of ${stack} in ${region} (${detail}). Deploy the stack first, or pass --table.`);
  }
}

async function main() {
  const table = options.table ?? tableFromStack(options.stage, options.region);
  const doc = createDocumentClient({ endpoint: options.endpoint, region: options.region });
  try {
    await doc.send(new DescribeTableCommand({ TableName: table })).catch((error: Error) => {
      throw new Error(`Table ${table} is not reachable${options.endpoint ? ` at ${options.endpoint}` : ` in ${options.region}`}: ${error.message}`);
    });
    const result = await bootstrapStack({ db: { doc, table }, clock: systemClock, ids: createIdGenerator() });
    console.log(`Table ${table}${options.endpoint ? ` at ${options.endpoint}` : ` (${options.region})`}`);
    console.log(`Catalog: ${result.written.length} item(s) written, ${result.kept.length} already there and left as they are.`);
    for (const target of result.written) console.log(`  + ${target}`);
    if (result.operatorKey) {
      console.log(`
First operator key (id ${result.operatorKeyId}). It is shown this once; only its hash is stored:

  ${result.operatorKey}

Keep it in a password manager. Issue further keys with POST /v1/api-keys and revoke this one
with DELETE /v1/api-keys/${result.operatorKeyId} once you have your own.`);
    } else {
      console.log(`The first operator key already exists (id ${result.operatorKeyId}, created ${result.operatorKeyCreatedAt}); no other key was created.`);
    }
  } finally {
    doc.destroy();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
