/**
 * Which table stream records are outbox events. The dispatcher reads every change of the table, so a
 * record that is not an event must be passed over without being decoded: one it could not decode
 * would otherwise fail its batch and stall the shard behind it (the local stream driver did, on a
 * hold ledger whose nested map DynamoDB Local's stream renders as a bare `{}`).
 */
import { describe, expect, it } from 'vitest';
import { outboxEventOf } from '../../shared/webhooks/dispatcher.ts';

const event = { id: 'evt_1', type: 'reservation.held', orgId: 'org_a', createdAt: '2026-12-01T00:00:00.000Z', data: { id: 'res_1' } };
const eventImage = {
  pk: { S: 'ORG#org_a' },
  sk: { S: 'EVT#000000000001' },
  entity: { S: 'event' },
  event: { M: { id: { S: event.id }, type: { S: event.type }, orgId: { S: event.orgId }, createdAt: { S: event.createdAt }, data: { M: { id: { S: 'res_1' } } } } },
};

describe('outboxEventOf', () => {
  it('reads the event an inserted event item carries', () => {
    expect(outboxEventOf({ eventName: 'INSERT', dynamodb: { NewImage: eventImage, SequenceNumber: '1' } })).toEqual(event);
  });

  it('passes over other items, modifications and removals without decoding them', () => {
    const ledger = { pk: { S: 'ORG#org_a' }, sk: { S: 'HOLDS' }, windows: { M: { w: {} } } };
    expect(outboxEventOf({ eventName: 'INSERT', dynamodb: { NewImage: ledger, SequenceNumber: '2' } })).toBeNull();
    expect(outboxEventOf({ eventName: 'MODIFY', dynamodb: { NewImage: eventImage, SequenceNumber: '3' } })).toBeNull();
    expect(outboxEventOf({ eventName: 'REMOVE', dynamodb: { SequenceNumber: '4' } })).toBeNull();
    expect(outboxEventOf({ eventName: 'INSERT', dynamodb: { NewImage: { ...eventImage, sk: { S: 'RES#res_1' } }, SequenceNumber: '5' } })).toBeNull();
    expect(outboxEventOf({ eventName: 'INSERT', dynamodb: { NewImage: { ...eventImage, pk: { S: 'POOL#p' } }, SequenceNumber: '6' } })).toBeNull();
  });
});
