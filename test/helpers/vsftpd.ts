/**
 * A real vsftpd for the FTP suites: `/usr/sbin/vsftpd <tmp config>` in the foreground (listen=YES, background=NO)
 * on a free loopback port, passive ports of its own, TLS with a throw-away authority and server certificate made
 * here with openssl (and a second authority that signed nothing of this server, for the "unknown authority" case).
 *
 * Logins: vsftpd authenticates local users through PAM, so the harness writes its own PAM service
 * (/etc/pam.d/pamdrop-test-vsftpd): the current user (root in CI) is let in, whatever the password, and nobody
 * else. A service that checks the password would need pam_exec, whose child process makes vsftpd's login hang,
 * or pam_userdb's Berkeley DB file, which no installed tool writes. No chroot (vsftpd refuses a writable chroot
 * as root): tests use absolute paths under `root`, as with the sshd harness.
 *
 * When vsftpd cannot be started: with PAMDROP_TEST_REQUIRE_VSFTPD=1 (CI) `startVsftpd` throws, so the suite fails
 * loudly; otherwise it resolves null with the reason, and the suite skips with a visible message.
 */
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, requiredOrSkipped, serverProcess } from './server-process.js';

export const VSFTPD = process.env.PAMDROP_TEST_VSFTPD ?? '/usr/sbin/vsftpd';
const PAM_SERVICE = 'pamdrop-test-vsftpd';

export interface Vsftpd {
  host: string;
  port: number;
  username: string;
  /** Any password is accepted (see above); the tests still pass one through passwordEnv / passwordFile. */
  password: string;
  tls: 'explicit' | 'implicit';
  dir: string;
  /** Folder the tests use as the server's file system (absolute remote paths). */
  root: string;
  /** PEM of the authority that signed the server certificate. */
  caFile: string;
  /** PEM of an authority that signed nothing of this server. */
  otherCaFile: string;
  /** `AB:CD:…` SHA-256 of the server certificate, as `openssl x509 -noout -fingerprint -sha256` prints it. */
  fingerprint: string;
  /** USER commands the server has received so far (from its log). */
  logins(): number;
  /** Starts (or restarts) the server on the same port with the same certificate. */
  start(): Promise<void>;
  /** SIGKILL of every session process, the listener left running: every connection drops. */
  killSessions(): void;
  /** SIGKILL of the server and every session process (a crashed server). */
  kill(): void;
  close(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

/** A self-signed authority, and (with `serverOf`) a server certificate for 127.0.0.1 and localhost signed by it. */
function makeCerts(dir: string): void {
  const ca = (name: string) => openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-days', '400', '-subj', `/CN=pamdrop test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  ca('ca');
  ca('other-ca');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '400', '-extfile', 'server.ext'], dir);
}

async function launchIn(dir: string, tls: 'explicit' | 'implicit', extraConf: readonly string[]): Promise<Vsftpd> {
  if (process.getuid?.() !== 0) throw new Error('the vsftpd harness runs as root (vsftpd\'s own privilege separation and PAM logins)');
  const root = join(dir, 'root');
  const empty = join(dir, 'empty');
  mkdirSync(root);
  mkdirSync(empty, { mode: 0o755 });
  makeCerts(dir);
  const username = userInfo().username;
  const pam = `# pamdrop test suites (test/helpers/vsftpd.ts): the test user only\nauth required pam_succeed_if.so quiet user = ${username}\nauth required pam_permit.so\naccount required pam_permit.so\nsession required pam_permit.so\n`;
  const pamPath = join('/etc/pam.d', PAM_SERVICE);
  if (!existsSync(pamPath) || readFileSync(pamPath, 'utf8') !== pam) writeFileSync(pamPath, pam);
  const port = await freePort();
  const pasv = await freePort();
  const conf = join(dir, 'vsftpd.conf');
  writeFileSync(conf, [
    'listen=YES', 'listen_ipv6=NO', 'listen_address=127.0.0.1', `listen_port=${port}`, 'background=NO',
    'anonymous_enable=NO', 'local_enable=YES', 'write_enable=YES', 'local_umask=022', `local_root=${root}`,
    'pasv_enable=YES', `pasv_min_port=${pasv}`, `pasv_max_port=${pasv + 20}`, 'pasv_address=127.0.0.1',
    // Containers: no seccomp sandbox, no namespaces; our own empty folder for the unprivileged helper.
    'seccomp_sandbox=NO', 'isolate=NO', 'isolate_network=NO', `secure_chroot_dir=${empty}`,
    `pam_service_name=${PAM_SERVICE}`, 'check_shell=NO', 'userlist_enable=NO', 'force_dot_files=YES', 'use_localtime=NO',
    `vsftpd_log_file=${join(dir, 'vsftpd.log')}`, 'xferlog_enable=YES', 'dual_log_enable=NO', 'syslog_enable=NO',
    // Commands logged (passwords masked by vsftpd): the suites check that no USER was sent to a refused server.
    'log_ftp_protocol=YES',
    'ssl_enable=YES', `rsa_cert_file=${join(dir, 'server.pem')}`, `rsa_private_key_file=${join(dir, 'server.key')}`,
    'ssl_ciphers=HIGH', 'require_ssl_reuse=NO', 'allow_anon_ssl=NO',
    // Explicit mode also lets plain FTP in (the insecure case); implicit mode is TLS from the first byte.
    tls === 'implicit' ? 'implicit_ssl=YES' : 'force_local_logins_ssl=NO',
    tls === 'implicit' ? 'force_local_logins_ssl=YES' : 'force_local_data_ssl=NO',
    ...extraConf,
    '',
  ].join('\n'));

  const der = new X509Certificate(readFileSync(join(dir, 'server.pem'))).raw;
  const proc = serverProcess({
    name: 'vsftpd', command: VSFTPD, args: [conf], port, dir,
    // Implicit TLS: the port accepts; the banner would need a handshake. Accepting is enough here.
    ready: (sock, done) => (tls === 'implicit' ? sock.once('connect', () => done(true)) : sock.once('data', (d) => done(d.toString('latin1').startsWith('220')))),
  });
  const server: Vsftpd = {
    host: '127.0.0.1', port, username, password: 'pamdrop-test', tls, dir, root,
    caFile: join(dir, 'ca.pem'), otherCaFile: join(dir, 'other-ca.pem'),
    fingerprint: createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':'),
    logins() {
      try { return (readFileSync(join(dir, 'vsftpd.log'), 'latin1').match(/FTP command: Client "[^"]*", "USER /g) ?? []).length; } catch { return 0; }
    },
    start: proc.start, killSessions: proc.killSessions, kill: proc.kill, close: proc.close,
  };
  try {
    await server.start();
  } catch (e) {
    server.kill();
    throw e;
  }
  return server;
}

/**
 * Starts a test vsftpd (explicit FTPS, plain FTP allowed; or implicit FTPS), with `extraConf` lines added to its
 * configuration (`max_per_ip=1`: a server that refuses a second session). Resolves null (with the reason printed)
 * when it cannot be started, unless PAMDROP_TEST_REQUIRE_VSFTPD=1, in which case it throws.
 */
export async function startVsftpd(tls: 'explicit' | 'implicit' = 'explicit', extraConf: readonly string[] = []): Promise<Vsftpd | null> {
  return requiredOrSkipped({
    server: 'vsftpd', suites: 'FTP', requireEnv: 'PAMDROP_TEST_REQUIRE_VSFTPD',
    launch: async () => {
      if (!existsSync(VSFTPD)) throw new Error(`${VSFTPD} not found (apt-get install -y vsftpd)`);
      const dir = mkdtempSync(join(tmpdir(), 'pamdrop-vsftpd-'));
      try {
        return await launchIn(dir, tls, extraConf);
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    },
  });
}
