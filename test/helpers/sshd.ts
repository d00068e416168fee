/**
 * A real OpenSSH server for the SFTP suites: `/usr/sbin/sshd -D -e -f <tmp config>` on a free loopback port,
 * with a temporary ed25519 host key, an authorized test key pair and `internal-sftp`. No chroot: tests use
 * absolute paths under `root`. As root it needs `PermitRootLogin yes`, `StrictModes no`, `UsePAM no` and the
 * privilege separation folder (/run/sshd), created if missing.
 *
 * When sshd cannot be started: with PAMDROP_TEST_REQUIRE_SSHD=1 (CI) `startSshd` throws, so the suite fails
 * loudly; otherwise it resolves null with the reason, and the suite skips with a visible message.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when the port answers with an SSH banner. */
async function waitForBanner(port: number, timeoutMs: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}): ${stderr().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      const done = (v: boolean) => { sock.destroy(); resolve(v); };
      sock.setTimeout(500, () => done(false));
      sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
      sock.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on 127.0.0.1:${port}: ${stderr().trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every live descendant of `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); } };
  walk(pid);
  return out;
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

  let child: ChildProcess | null = null;
  let err = '';
  const sshd: Sshd = {
    host: '127.0.0.1', port, username: userInfo().username, dir, root,
    clientKey: join(dir, 'client_key'), clientKeyWithPassphrase: join(dir, 'client_key_pp'), passphrase, fingerprint,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      err = '';
      const c = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      child = c;
      await waitForBanner(port, 10_000, c, () => err);
    },
    kill() {
      if (!child || child.pid === undefined) return;
      const pids = [child.pid, ...descendants(child.pid)];
      for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      child = null;
    },
    async close() {
      const c = child;
      sshd.kill();
      if (c && c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
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
  try {
    return await launch();
  } catch (e) {
    const why = (e as Error).message;
    if (process.env.PAMDROP_TEST_REQUIRE_SSHD === '1') {
      throw new Error(`PAMDROP_TEST_REQUIRE_SSHD=1 but the test sshd cannot be started: ${why}`);
    }
    // Visible on purpose: a skipped SFTP suite must not look like a passing one.
    console.warn(`\n*** SFTP suites SKIPPED: the test sshd cannot be started (${why}). Set PAMDROP_TEST_REQUIRE_SSHD=1 to make this fail. ***\n`);
    return null;
  }
}
