/**
 * Thin, typed wrappers over iproute2 / sysctl / ethtool / tcpdump for network-namespace labs.
 *
 * Everything is done with argv arrays through child_process (never a shell string), and every
 * object a lab creates carries the lab's unique prefix so cleanup can never touch anything else.
 * Interfaces are created directly inside the namespaces (veth peers are moved at creation), so the
 * host's own link table is never used for lab links.
 */
import { execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { EnvironmentError } from '../errors.js';

/** Every lab object (namespace) name starts with this, so `lab down` can find leftovers. */
export const LAB_NAME_ROOT = 'lvsa-';

/** Linux limit for interface names is IFNAMSIZ-1. */
export const MAX_IFNAME = 15;

export interface RunOptions {
  /** Bytes to feed on stdin. */
  input?: string;
  /** Milliseconds before the command is killed (default 10 s). */
  timeoutMs?: number;
  /** Do not throw on a non-zero exit status; return the output anyway. */
  allowFail?: boolean;
}

/** Run argv[0] with the remaining arguments; return stdout. Throws with stderr on failure. */
export function run(argv: readonly string[], opts: RunOptions = {}): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 10_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; status?: number | null; message: string };
    if (opts.allowFail) return e.stdout ?? '';
    const stderr = (e.stderr ?? '').trim();
    throw new Error(`${argv.join(' ')} failed (status ${e.status ?? '?'}): ${stderr || e.message}`);
  }
}

/** One argv word for a POSIX shell script. */
export function shQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * Run several commands from one `sh -e`: each spawn from node forks the whole node process, which
 * under the lab VM's emulated CPU costs far more than the command itself. A command marked
 * `allowFail` may fail without stopping the rest.
 */
export function runScript(commands: ReadonlyArray<readonly string[] | { argv: readonly string[]; allowFail: true }>, opts: RunOptions = {}): string {
  const lines = commands.map((c) => ('argv' in c ? `${c.argv.map(shQuote).join(' ')} || true` : c.map(shQuote).join(' ')));
  return run(['sh', '-ec', lines.join('\n')], { timeoutMs: 60_000, ...opts });
}

/** True when `cmd` can be found on PATH (checked by running it with a harmless argument). */
export function hasCommand(cmd: string, probeArgs: readonly string[] = ['--version']): boolean {
  try {
    execFileSync(cmd, probeArgs, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (err) {
    // A non-zero exit still means the binary exists; ENOENT means it does not.
    return (err as { code?: string }).code !== 'ENOENT';
  }
}

/** Why a lab cannot run here, or null when it can (root + working `ip netns`). */
export function labUnavailableReason(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'network-namespace labs need root (run as root or with CAP_NET_ADMIN+CAP_SYS_ADMIN)';
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return '`ip netns` is not available (install iproute2)';
  }
  return null;
}

/** Throws EnvironmentError (exit 4) when a lab cannot run here. */
export function assertLabAvailable(): void {
  const reason = labUnavailableReason();
  if (reason !== null) throw new EnvironmentError(reason);
}

/** Names of all network namespaces (first word of each `ip netns list` line). */
export function listNamespaces(): string[] {
  const out = run(['ip', 'netns', 'list'], { allowFail: true });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Names of the host's links (without the `@peer` suffix). */
export function listHostLinks(): string[] {
  const out = run(['ip', '-o', 'link', 'show'], { allowFail: true });
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

/** PIDs of processes living in namespace `ns`. */
export function namespacePids(ns: string): number[] {
  const out = run(['ip', 'netns', 'pids', ns], { allowFail: true });
  return out
    .split('\n')
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Remove one namespace and everything in it: its processes are killed first (a namespace with a
 * live process survives `ip netns del` as an anonymous namespace, and keeps its veths alive).
 */
export function deleteNamespace(ns: string): void {
  if (!ns.startsWith(LAB_NAME_ROOT)) throw new Error(`refusing to delete non-lab namespace ${ns}`);
  let pids = namespacePids(ns);
  for (const pid of pids) killQuietly(pid, 'SIGTERM');
  for (let i = 0; i < 20 && pids.length > 0; i++) {
    sleepSync(25);
    pids = namespacePids(ns);
  }
  for (const pid of pids) killQuietly(pid, 'SIGKILL');
  if (pids.length > 0) sleepSync(50);
  run(['ip', 'netns', 'del', ns], { allowFail: true });
}

export interface LabDownResult {
  namespaces: string[];
  links: string[];
}

/**
 * Remove leftovers of labs: every namespace and host link whose name starts with `prefix`
 * (default: any lab, `lvsa-`). Safe to run repeatedly; never touches other names.
 */
export function labDown(prefix: string = LAB_NAME_ROOT): LabDownResult {
  if (!prefix.startsWith(LAB_NAME_ROOT)) {
    throw new Error(`lab prefix must start with ${LAB_NAME_ROOT}: ${prefix}`);
  }
  assertLabAvailable();
  const namespaces = listNamespaces().filter((n) => n.startsWith(prefix));
  for (const ns of namespaces) deleteNamespace(ns);
  const links = listHostLinks().filter((n) => n.startsWith(prefix));
  for (const link of links) run(['ip', 'link', 'del', link], { allowFail: true });
  return { namespaces, links };
}

/** A process started in a namespace and tracked for cleanup. */
export interface LabProcess {
  readonly ns: string;
  readonly argv: readonly string[];
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves when a line of stdout or stderr matches `re` (rejects on exit or timeout). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal name) when the process has ended. */
  exited(): Promise<number | string>;
  /** Send `signal` (default SIGTERM) and wait for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** Spawn `argv` inside namespace `ns` (via `ip netns exec`) and capture its output. */
export function spawnInNamespace(ns: string, argv: readonly string[]): LabProcess {
  const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exitValue: number | string | null = null;
  const exitWaiters: Array<(v: number | string) => void> = [];
  const outputWaiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...outputWaiters]) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    notify();
  });
  child.on('error', (e) => {
    err += `\nspawn error: ${e.message}`;
    notify();
  });
  child.on('close', (code, signal) => {
    exitValue = code ?? signal ?? 'unknown';
    for (const w of exitWaiters.splice(0)) w(exitValue);
    notify();
  });
  const exited = (): Promise<number | string> =>
    exitValue !== null ? Promise.resolve(exitValue) : new Promise((resolve) => exitWaiters.push(resolve));
  return {
    ns,
    argv,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(re: RegExp, timeoutMs = 5000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (re.test(out) || re.test(err)) {
            finish();
            resolve();
          } else if (exitValue !== null) {
            finish();
            reject(new Error(`${argv.join(' ')} exited (${exitValue}) before ${re}: ${err.trim()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${argv.join(' ')}: no ${re} within ${timeoutMs} ms: ${err.trim()}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          outputWaiters.delete(check);
        };
        outputWaiters.add(check);
        check();
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<number | string> {
      if (exitValue !== null) return exitValue;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
