import { monotonicFactory } from 'ulid';

/** Time-ordered, prefixed ids (`res_01J…`). Passed in as a dependency so tests can make them predictable. */
export interface IdGenerator {
  next(prefix: string): string;
}

export function createIdGenerator(now: () => Date = () => new Date()): IdGenerator {
  const factory = monotonicFactory();
  return { next: (prefix) => `${prefix}_${factory(now().getTime()).toLowerCase()}` };
}

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
