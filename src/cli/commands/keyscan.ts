/**
 * `pamdrop sftp-keyscan --source NAME` (or `--host H [--port P]`): prints the SHA-256 fingerprint of the
 * host key the server offers to pamdrop, in the form `hostKeySha256` pins. Trust on first use is the
 * operator's decision: compare it with the fingerprint the server's administrator reads on the server
 * (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) before pinning it. Nothing is authenticated or sent.
 */
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { DEFAULT_SFTP_PORT, DEFAULT_SFTP_TIMEOUT_MS, keyscan, normalizePin } from '../../intake/sftp.js';

/** Flags of `sftp-keyscan`. */
export interface KeyscanArgs { source?: string; host?: string; port?: number }

/** Handler of `pamdrop sftp-keyscan`: prints the fingerprint; a connection failure throws (exit 1). */
export async function keyscanCommand(ctx: CliContext, args: KeyscanArgs): Promise<number> {
  let host = args.host;
  let port = args.port;
  let pins: string[] = [];
  let timeoutMs = DEFAULT_SFTP_TIMEOUT_MS;
  let sourceName: string | null = null;
  if (!host) {
    const sftp = ctx.config.sources.filter((s) => s.type === 'sftp');
    const src = args.source ? ctx.config.sources.find((s) => s.name === args.source) : sftp.length === 1 ? sftp[0] : undefined;
    if (!src) {
      throw new ConfigError(args.source ? `--source ${args.source}: no such source in the config`
        : `give --source (sftp sources: ${sftp.map((s) => s.name).join(', ') || 'none'}) or --host`);
    }
    if (src.type !== 'sftp' || !src.sftp) throw new ConfigError(`--source ${src.name}: not an sftp source`);
    host = src.sftp.host;
    port = port ?? src.sftp.port;
    pins = src.sftp.hostKeySha256.map(normalizePin);
    timeoutMs = src.sftp.timeoutMs ?? timeoutMs;
    sourceName = src.name;
  }
  port = port ?? DEFAULT_SFTP_PORT;
  const k = await keyscan(host, port, timeoutMs);
  const pinned = pins.includes(k.fingerprint);
  if (ctx.json) {
    ctx.out(JSON.stringify({ host, port, source: sourceName, type: k.type, fingerprint: k.fingerprint, pinned }, null, 2) + '\n');
    return ExitCode.Ok;
  }
  ctx.out(`${k.fingerprint} ${k.type} ${host}:${port}\n`);
  if (sourceName) {
    ctx.out(pinned ? `source ${sourceName}: this key is pinned\n`
      : `source ${sourceName}: NOT pinned. After checking it with the server's administrator, add to sources[…].sftp.hostKeySha256: "${k.fingerprint}"\n`);
  }
  return ExitCode.Ok;
}
