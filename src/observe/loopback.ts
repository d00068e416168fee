/** Loopback addresses (no dependency: config/load.ts validates `httpHost` with it). */

/** True for a loopback host: `localhost`, 127.0.0.0/8, `::1` (with or without brackets), `::ffff:127.x.y.z`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
