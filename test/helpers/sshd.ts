/**
 * A real OpenSSH server for the SFTP suites: `/usr/sbin/sshd -D -e -f <tmp config>` on a free loopback port,
 * with a temporary ed25519 host key, an authorized test key pair and `internal-sftp`. No chroot: tests use
 * absolute paths under `root`. As root it needs `PermitRootLogin yes`, `StrictModes no`, `UsePAM no` and the
 * privilege separation folder (/run/sshd), created if missing.
 *
 * When sshd cannot be started: with PAMDROP_TEST_REQUIRE_SSHD=1 (CI) `startSshd` throws, so the suite fails
 * loudly; otherwise it resolves null with the reason, and the suite skips with a visible message.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, requiredOrSkipped, serverProcess } from './server-process.js';

export const SSHD = process.env.PAMDROP_TEST_SSHD ?? '/usr/sbin/sshd';

export interface Sshd {
  host: string;
  port: number;
  username: string;
  /** Temporary folder: keys, config, and `root/` for the remote folders. */
  dir: string;
  /** Folder the tests use as the server's file system (absolute remote paths). */
  root: string;
  /** Private key of the authorized test client. */
  clientKey: string;
  /** A second authorized key, protected by `passphrase`. */
  clientKeyWithPassphrase: string;
  passphrase: string;
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Starts (or restarts) the server on the same port with the same host key. */
  start(): Promise<void>;
  /** SIGKILL the server and every session process it forked (a crashed server, connections cut). */
  kill(): void;
  /** Stops the server and removes the temporary folder. */
  close(): Promise<void>;
}

function keygen(args: string[]): void {
  const r = spawnSync('ssh-keygen', ['-q', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

async function launch(): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found (apt-get install -y openssh-server)`);
  const dir = mkdtempSync(join(tmpdir(), 'pamdrop-sshd-'));
  try {
    return await launchIn(dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function launchIn(dir: string): Promise<Sshd> {
  const root = join(dir, 'root');
  mkdirSync(root);
  keygen(['-t', 'ed25519', '-N', '', '-C', 'pamdrop-test-host', '-f', join(dir, 'host_key')]);
  keygen(['-t', 'ed25519', '-N', '', '-C', 'pamdrop-test-client', '-f', join(dir, 'client_key')]);
  const passphrase = 'correct horse battery staple';
  keygen(['-t', 'ed25519', '-N', passphrase, '-C', 'pamdrop-test-client-pp', '-f', join(dir, 'client_key_pp')]);
  writeFileSync(join(dir, 'authorized_keys'), Buffer.concat([readFileSync(join(dir, 'client_key.pub')), readFileSync(join(dir, 'client_key_pp.pub'))]));
  const fp = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'host_key.pub')], { encoding: 'utf8' });
  const fingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(fp.stdout)?.[0];
  if (!fingerprint) throw new Error(`ssh-keygen -l: ${fp.stderr}`);
  const isRoot = process.getuid?.() === 0;
  if (isRoot && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin yes',
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'Subsystem sftp internal-sftp',
    'MaxStartups 100',
    'LogLevel ERROR',
    '',
  ].join('\n'));
  const check = spawnSync(SSHD, ['-t', '-f', join(dir, 'sshd_config')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd -t: ${check.error?.message ?? check.stderr.trim()}`);

  const proc = serverProcess({
    name: 'sshd', command: SSHD, args: ['-D', '-e', '-f', join(dir, 'sshd_config')], port, dir,
    ready: (sock, done) => sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-'))),
  });
  const sshd: Sshd = {
    host: '127.0.0.1', port, username: userInfo().username, dir, root,
    clientKey: join(dir, 'client_key'), clientKeyWithPassphrase: join(dir, 'client_key_pp'), passphrase, fingerprint,
    start: proc.start, kill: proc.kill, close: proc.close,
  };
  try {
    await sshd.start();
  } catch (e) {
    sshd.kill();
    throw e;
  }
  return sshd;
}

/**
 * Starts a test sshd. Resolves null (with the reason printed) when it cannot be started, unless
 * PAMDROP_TEST_REQUIRE_SSHD=1, in which case it throws.
 */
export async function startSshd(): Promise<Sshd | null> {
  return requiredOrSkipped({ server: 'sshd', suites: 'SFTP', requireEnv: 'PAMDROP_TEST_REQUIRE_SSHD', launch });
}
