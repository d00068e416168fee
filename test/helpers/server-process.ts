/**
 * What the SFTP and FTP harnesses (sshd.ts, vsftpd.ts) share: a free loopback port, a server run in the foreground
 * whose readiness is probed on its port, killed with every session process it forked (a crashed server), and the
 * rule for a server that cannot be started: required (CI) → the suite fails loudly; else it is skipped with a
 * visible message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Every live descendant of `pid` (from /proc). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/** Whether a connection to the port shows a ready server: `done(true)` when it does (e.g. on its banner). */
export type ReadyProbe = (sock: Socket, done: (ready: boolean) => void) => void;

/** Resolves when the port answers as `probe` wants; throws when the server exits first, or after `timeoutMs`. */
async function waitReady(name: string, port: number, probe: ReadyProbe, timeoutMs: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${output().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      const done = (v: boolean) => { sock.destroy(); resolve(v); };
      sock.setTimeout(500, () => done(false));
      sock.once('error', () => done(false));
      probe(sock, done);
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer on 127.0.0.1:${port}: ${output().trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServerProcess {
  /** Starts (or restarts) the server; resolves once its port answers. */
  start(): Promise<void>;
  /** SIGKILL of every session process, the listener left running: every connection drops. */
  killSessions(): void;
  /** SIGKILL of the server and every session process it forked (a crashed server, connections cut). */
  kill(): void;
  /** Stops the server and removes its temporary folder. */
  close(): Promise<void>;
}

/** A server run as `command args` in the foreground, its output kept for error messages, its folder `dir`. */
export function serverProcess(o: { name: string; command: string; args: string[]; port: number; ready: ReadyProbe; dir: string }): ServerProcess {
  let child: ChildProcess | null = null;
  let output = '';
  const kill = (pids: (c: ChildProcess & { pid: number }) => number[]) => {
    if (!child || child.pid === undefined) return;
    for (const p of pids(child as ChildProcess & { pid: number })) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  };
  const server: ServerProcess = {
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      output = '';
      const c = spawn(o.command, o.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
      c.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
      child = c;
      await waitReady(o.name, o.port, o.ready, 10_000, c, () => output);
    },
    killSessions() { kill((c) => descendants(c.pid)); },
    kill() {
      kill((c) => [c.pid, ...descendants(c.pid)]);
      child = null;
    },
    async close() {
      const c = child;
      server.kill();
      if (c && c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * `launch()`, or null with a visible message when the server cannot be started; with `${requireEnv}=1` (CI) it
 * throws instead, so the suite fails rather than skips.
 */
export async function requiredOrSkipped<T>(o: { server: string; suites: string; requireEnv: string; launch: () => Promise<T> }): Promise<T | null> {
  try {
    return await o.launch();
  } catch (e) {
    const why = (e as Error).message;
    if (process.env[o.requireEnv] === '1') throw new Error(`${o.requireEnv}=1 but the test ${o.server} cannot be started: ${why}`);
    // Visible on purpose: a skipped suite must not look like a passing one.
    console.warn(`\n*** ${o.suites} suites SKIPPED: the test ${o.server} cannot be started (${why}). Set ${o.requireEnv}=1 to make this fail. ***\n`);
    return null;
  }
}
