/** A clock tests move by hand. */
export function manualClock(start: Date | string = '2026-11-24T10:00:00Z') {
  let now = new Date(start).getTime();
  const clock = () => new Date(now);
  return Object.assign(clock, {
    set(to: Date | string) {
      now = new Date(to).getTime();
    },
    advance(ms: number) {
      now += ms;
    },
  });
}
export type ManualClock = ReturnType<typeof manualClock>;
