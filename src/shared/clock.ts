/**
 * Injectable clock. PAMDROP_FIXED_TIME (ISO-8601) pins "now" for reproducible runs: byte-identical ACK files
 * between a clean run and a crashed-and-resumed one (hardening harness), documentation examples.
 */
export interface Clock { now(): Date }

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(iso: string): Clock {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) throw new Error(`PAMDROP_FIXED_TIME is not an ISO-8601 time: ${iso}`);
  return { now: () => new Date(t.getTime()) };
}

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  return env.PAMDROP_FIXED_TIME ? fixedClock(env.PAMDROP_FIXED_TIME) : systemClock;
}
