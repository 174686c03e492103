/**
 * `Lab`: a disposable network-namespace topology (namespaces, veth links, bridges, routes,
 * sysctls, background processes, tcpdump captures) that cleans up after itself on destroy(),
 * process exit, SIGINT/SIGTERM and uncaught errors.
 *
 * Naming: namespace = `<prefix><role>` with prefix `lvsa-<pid36>-<rand>-`; interfaces live inside
 * the namespaces and are named `eth0`, `eth1`, … (bridge ports `p<n>`), so they are short,
 * deterministic and cannot clash with the host. MAC addresses are deterministic (see labMac)
 * so fixtures made from a lab are stable between runs.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  LAB_NAME_ROOT,
  MAX_IFNAME,
  assertLabAvailable,
  deleteNamespace,
  listNamespaces,
  run,
  runScript,
  spawnInNamespace,
  type LabProcess,
  type RunOptions,
} from './netns.js';

/** A namespace playing one role (client, director, rs1, router, …). */
export interface Namespace {
  readonly role: string;
  readonly name: string;
  /** Position in creation order; used for deterministic MACs. */
  readonly index: number;
}

/** A learning bridge (an L2 segment); lives in its own namespace so the host is untouched. */
export interface Bridge {
  readonly kind: 'bridge';
  readonly ns: Namespace;
  /** Name of the bridge device inside `ns`. */
  readonly dev: string;
}

/** One end of a link, as seen inside its namespace. */
export interface Endpoint {
  readonly ns: Namespace;
  readonly ifname: string;
  readonly mac: string;
  /** Addresses in CIDR notation (e.g. 10.0.0.1/24). */
  readonly addrs: readonly string[];
}

export interface EndOptions {
  /** Interface name (default `eth<n>`, n = interfaces already in that namespace). */
  ifname?: string;
  /** Address(es) in CIDR notation. */
  addr?: string | readonly string[];
  /** MAC address (default deterministic from namespace index and interface number). */
  mac?: string;
  /** What this end does with NIC offloads (default `off`); for a bridge link, `b` sets the bridge port's. */
  offloads?: OffloadProfile;
}

/**
 * What one veth end does with NIC offloads (`ethtool -K`), i.e. what a tcpdump on it shows:
 *   off       every offload off: finished checksums and wire-sized segments in every capture;
 *   host      a host's defaults: TX checksum offload (partial checksums in the sender's capture),
 *             TSO/GSO (the sender's capture shows super-segments) and GRO (the receiver's capture
 *             shows merged segments);
 *   segment   as host but TSO off, GSO on: the stack cuts super-segments in software before the
 *             tap, so this end's capture shows MSS-size segments going out (a forwarder whose
 *             egress NIC cannot do TSO);
 *   finish    TX checksum and TSO off, GSO on, GRO off: every packet leaves with its segments cut
 *             and its checksums computed in software, as a userspace forwarder behind this port
 *             (libpcap, no offload metadata) needs them;
 *   switch    TX checksum offload and GSO on, TSO and GRO off: a switch port, which hands on
 *             wire-size segments (veth runs the receiver's GRO only for packets from a peer
 *             without TSO, so this is also what lets the far end's GRO merge them).
 */
export type OffloadProfile = 'off' | 'host' | 'segment' | 'finish' | 'switch';

/** `ethtool -K` words of each profile. veth accepts `gro on` since Linux 5.13 (NAPI without XDP). */
export const OFFLOAD_SETTINGS: Readonly<Record<OffloadProfile, readonly string[]>> = {
  off: ['tx', 'off', 'rx', 'off', 'gro', 'off', 'gso', 'off', 'tso', 'off'],
  host: ['tx', 'on', 'rx', 'on', 'tso', 'on', 'gso', 'on', 'gro', 'on'],
  segment: ['tx', 'on', 'rx', 'on', 'tso', 'off', 'gso', 'on', 'gro', 'on'],
  finish: ['tx', 'off', 'rx', 'on', 'tso', 'off', 'gso', 'on', 'gro', 'off'],
  switch: ['tx', 'on', 'rx', 'on', 'tso', 'off', 'gso', 'on', 'gro', 'off'],
};

export interface LinkOptions {
  a?: EndOptions;
  /** The far end: a namespace end, or ignored fields when linking to a bridge. */
  b?: EndOptions;
  mtu?: number;
}

export interface CaptureOptions {
  /** Pass `-y LINUX_SLL2` (only meaningful with iface `any`). */
  sll2?: boolean;
  /** Extra tcpdump filter words (BPF), e.g. ['not', 'ip6']. */
  filter?: readonly string[];
  /**
   * Capture buffer (tcpdump -B, KiB). In immediate mode libpcap's ring holds fixed slots, sized
   * for 64 KB frames on a device with offloads, so libpcap's default ring holds few packets:
   * enough for small connections, not for a burst of super-segments and the segments cut from them.
   */
  bufferKiB?: number;
  /**
   * Without --immediate-mode (TPACKET_V3): the ring packs frames by their size and hands them
   * over in blocks, so a burst of super-segments and the segments cut from them fits where fixed
   * immediate-mode slots overflow, and tcpdump wakes once per block instead of once per packet
   * (what keeps up under an emulated CPU). A block reaches tcpdump when full or after libpcap's
   * buffer timeout, so stop() waits until the file has stopped growing for longer than that.
   */
  batched?: boolean;
}

/** Where a lab captures: tcpdump on `iface` (or `any`) in `ns`, named `point` in the capture set. */
export interface CapturePoint {
  point: string;
  ns: Namespace;
  iface: string;
  /** Capture as LINUX_SLL2 (iface `any`: keeps the interface index and direction). */
  sll2?: boolean;
}

/** A running tcpdump. */
export interface Capture {
  readonly ns: Namespace;
  readonly iface: string;
  readonly file: string;
  /** Stop with SIGINT after a short drain, wait until tcpdump has flushed and exited. */
  stop(): Promise<void>;
  /**
   * After stop(): packets this capture missed, i.e. dropped by the kernel because the ring was
   * full (a hole in the capture). Null when tcpdump printed no counts. Packets the filter counted
   * but tcpdump never wrote are not holes: stop() waits until the file is quiet, so they arrived
   * after the capture's end (a client still retransmitting, say).
   */
  missed(): number | null;
  /** After stop(): tcpdump's exit lines (its packet counts). */
  counts(): string;
}

/** Packets a tcpdump's kernel ring dropped, from its exit line "N packets dropped by kernel". */
export function missedPackets(stderr: string): number | null {
  const m = /(\d+) packets? dropped by kernel/.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** Resolves once `file` has not grown for `quietMs` (or after `maxMs`). */
async function fileQuiet(file: string, quietMs: number, maxMs: number): Promise<void> {
  const size = (): number => {
    try {
      return statSync(file).size;
    } catch {
      return -1;
    }
  };
  const started = Date.now();
  let last = size();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() - started < maxMs) {
    await new Promise((r) => setTimeout(r, 100));
    const now = size();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

export interface LabOptions {
  /** Full prefix to use (must start with `lvsa-`); default `lvsa-<pid36>-<rand>-`. */
  prefix?: string;
  /** Keep IPv6 enabled in namespaces (default off: keeps captures free of RS/MLD noise). */
  ipv6?: boolean;
}

const liveLabs = new Set<Lab>();
let handlersInstalled = false;

/** Destroy every live lab synchronously; used from exit/signal handlers. */
function destroyAllSync(): void {
  for (const lab of [...liveLabs]) {
    try {
      lab.destroySync();
    } catch {
      /* best effort during exit */
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      destroyAllSync();
      // Re-raise with the default action so the exit status says "killed by signal".
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
  // The monitor runs before Node's default crash handling without changing it ('exit' is not
  // emitted for an uncaught exception, so this is the only hook that sees a crash).
  process.on('uncaughtExceptionMonitor', destroyAllSync);
}

function toList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}

/**
 * Deterministic locally administered unicast MAC for interface `ifIndex` of namespace `nsIndex`:
 * 02:1e:5a:01:<ns>:<if> for namespace interfaces, 02:1e:5a:02:<ns>:<if> for bridge ports.
 * 02:1e:5a:00:… is left to callers that pick MACs per role, so defaults never collide with them
 * (a bridge treats a frame addressed to one of its port MACs as local and does not forward it).
 */
export function labMac(nsIndex: number, ifIndex: number, bridgePort = false): string {
  return `02:1e:5a:${bridgePort ? '02' : '01'}:${hex2(nsIndex)}:${hex2(ifIndex)}`;
}

export class Lab {
  readonly prefix: string;
  private readonly ipv6: boolean;
  private readonly namespaces: Namespace[] = [];
  private readonly ifCount = new Map<string, number>();
  private readonly processes = new Set<LabProcess>();
  private readonly captures = new Set<Capture>();
  private destroyed = false;

  constructor(opts: LabOptions = {}) {
    assertLabAvailable();
    const prefix =
      opts.prefix ?? `${LAB_NAME_ROOT}${process.pid.toString(36)}-${randomBytes(2).toString('hex')}-`;
    if (!prefix.startsWith(LAB_NAME_ROOT)) throw new Error(`lab prefix must start with ${LAB_NAME_ROOT}`);
    if (listNamespaces().some((n) => n.startsWith(prefix))) {
      throw new Error(`lab prefix ${prefix} is already in use`);
    }
    this.prefix = prefix;
    this.ipv6 = opts.ipv6 ?? false;
    installHandlers();
    liveLabs.add(this);
  }

  /** All namespaces created so far, in creation order. */
  get allNamespaces(): readonly Namespace[] {
    return this.namespaces;
  }

  /** Create a namespace for `role` (lo up, IPv6 off unless asked). */
  addNamespace(role: string): Namespace {
    this.assertLive();
    if (!/^[a-z0-9][a-z0-9-]*$/.test(role)) throw new Error(`bad role name: ${role}`);
    const name = `${this.prefix}${role}`;
    if (this.namespaces.some((n) => n.name === name)) throw new Error(`namespace ${role} exists`);
    const ns: Namespace = { role, name, index: this.namespaces.length + 1 };
    // Registered before it exists, so a failure half-way still has it deleted with the lab.
    this.namespaces.push(ns);
    runScript([
      ['ip', 'netns', 'add', name],
      ['ip', '-n', name, 'link', 'set', 'lo', 'up'],
      // With IPv6, addresses skip duplicate address detection: a tentative address cannot be
      // used for a second or more, and the lab's addresses are unique by construction.
      this.ipv6
        ? ['ip', 'netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']
        : ['ip', 'netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
    ]);
    return ns;
  }

  /** Create an L2 segment: a bridge (STP off, no forward delay) in its own namespace. */
  addBridge(role: string): Bridge {
    const ns = this.addNamespace(role);
    runScript([
      ['ip', '-n', ns.name, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0'],
      ['ip', '-n', ns.name, 'link', 'set', 'br0', 'up'],
    ]);
    return { kind: 'bridge', ns, dev: 'br0' };
  }

  /**
   * Connect namespace `a` to namespace `b` (point-to-point veth) or to bridge `b` (veth whose
   * far end is a bridge port). Each end gets its offload profile (default `off`, so captures show
   * finished checksums and wire-sized segments). Returns the `a` end (and the `b` end).
   */
  link(a: Namespace, b: Namespace | Bridge, opts: LinkOptions = {}): { a: Endpoint; b: Endpoint } {
    this.assertLive();
    const toBridge = 'kind' in b;
    const bNs = toBridge ? b.ns : b;
    const aIf = opts.a?.ifname ?? this.nextIfName(a, 'eth');
    const bIf = toBridge ? this.nextIfName(bNs, 'p') : (opts.b?.ifname ?? this.nextIfName(bNs, 'eth'));
    for (const n of [aIf, bIf]) {
      if (n.length > MAX_IFNAME) throw new Error(`interface name too long: ${n}`);
    }
    const aMac = opts.a?.mac ?? labMac(a.index, this.ifNumber(a));
    const bMac = toBridge ? labMac(bNs.index, this.ifNumber(bNs), true) : (opts.b?.mac ?? labMac(bNs.index, this.ifNumber(bNs)));
    this.bump(a);
    this.bump(bNs);
    this.assertLive();
    const ipA = (args: readonly string[]): string[] => ['ip', '-n', a.name, ...args];
    const ipB = (args: readonly string[]): string[] => ['ip', '-n', bNs.name, ...args];
    const aAddrs = toList(opts.a?.addr);
    const bAddrs = toBridge ? [] : toList(opts.b?.addr);
    // One shell for the whole link (see runScript). The pair is created inside `a` with the peer
    // placed straight into the other namespace.
    runScript([
      ipA(['link', 'add', aIf, 'address', aMac, 'type', 'veth', 'peer', 'name', bIf, 'address', bMac, 'netns', bNs.name]),
      ...(opts.mtu !== undefined ? [ipA(['link', 'set', aIf, 'mtu', String(opts.mtu)]), ipB(['link', 'set', bIf, 'mtu', String(opts.mtu)])] : []),
      this.offloadCommand(a, aIf, opts.a?.offloads ?? 'off'),
      this.offloadCommand(bNs, bIf, opts.b?.offloads ?? 'off'),
      ...aAddrs.map((addr) => ipA(['addr', 'add', addr, 'dev', aIf])),
      ...(toBridge ? [ipB(['link', 'set', bIf, 'master', b.dev])] : bAddrs.map((addr) => ipB(['addr', 'add', addr, 'dev', bIf]))),
      ipA(['link', 'set', aIf, 'up']),
      ipB(['link', 'set', bIf, 'up']),
    ]);
    return {
      a: { ns: a, ifname: aIf, mac: aMac, addrs: aAddrs },
      b: { ns: bNs, ifname: bIf, mac: bMac, addrs: bAddrs },
    };
  }

  /**
   * Wait until every interface of the lab is operationally up and every bridge port forwards.
   * The kernel applies carrier/operstate changes from a rate-limited worker (up to ~1 s late),
   * and a bridge port only starts forwarding after that: traffic sent earlier is silently
   * dropped by the bridge (seen as a lost first ARP request).
   */
  async waitReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending = this.notReady();
      if (pending.length === 0) return;
      if (Date.now() > deadline) throw new Error(`lab links not ready after ${timeoutMs} ms: ${pending.join(', ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Interfaces (ns/if) that are not up yet, and bridge ports not yet forwarding. */
  private notReady(): string[] {
    const pending: string[] = [];
    // Every namespace's links (and bridge ports) from one shell, each JSON document ended by a mark.
    const script = this.namespaces.flatMap((ns) => [
      ['ip', '-n', ns.name, '-j', 'link', 'show'],
      ['echo', '@@'],
      ['ip', 'netns', 'exec', ns.name, 'bridge', '-j', 'link', 'show'],
      ['echo', '@@'],
    ]);
    const docs = runScript(script).split('@@\n').map((d) => (d.trim().length > 0 ? d : '[]'));
    this.namespaces.forEach((ns, i) => {
      const links = JSON.parse(docs[2 * i] ?? '[]') as Array<{ ifname: string; operstate?: string }>;
      for (const l of links) {
        if (l.ifname === 'lo') continue;
        if (l.operstate !== 'UP') pending.push(`${ns.role}/${l.ifname}:${l.operstate ?? '?'}`);
      }
      const ports = JSON.parse(docs[2 * i + 1] ?? '[]') as Array<{ ifname: string; state?: string }>;
      for (const p of ports) {
        if (p.state !== 'forwarding') pending.push(`${ns.role}/${p.ifname}:${p.state ?? '?'}`);
      }
    });
    return pending;
  }

  /** Add an address (CIDR) to a device in `ns` (e.g. a VIP on `lo`). */
  addAddress(ns: Namespace, dev: string, cidr: string): void {
    this.ip(ns, ['addr', 'add', cidr, 'dev', dev]);
  }

  /** `ip route add <dst> via <gw>` (dst may be `default`); extra words appended (dev, src, table…). */
  addRoute(ns: Namespace, dst: string, via: string | null, extra: readonly string[] = []): void {
    const argv = ['route', 'add', dst];
    if (via !== null) argv.push('via', via);
    this.ip(ns, [...argv, ...extra]);
  }

  /** Set a sysctl inside `ns` (values as the kernel prints them). */
  sysctl(ns: Namespace, key: string, value: string | number): void {
    this.exec(ns, ['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** Read a sysctl inside `ns`. */
  readSysctl(ns: Namespace, key: string): string {
    return this.exec(ns, ['sysctl', '-n', key]).trim();
  }

  /** Load an nftables ruleset (nft -f -) inside `ns`. */
  nft(ns: Namespace, ruleset: string): void {
    this.exec(ns, ['nft', '-f', '-'], { input: ruleset });
  }

  /** `ip <args>` inside `ns`. */
  ip(ns: Namespace, args: readonly string[]): string {
    return run(['ip', '-n', ns.name, ...args]);
  }

  /** Run argv in `ns` and return stdout (throws on failure unless allowFail). */
  exec(ns: Namespace, argv: readonly string[], opts: RunOptions = {}): string {
    this.assertLive();
    return run(['ip', 'netns', 'exec', ns.name, ...argv], opts);
  }

  /** Start argv in `ns` in the background; it is killed by destroy(). */
  spawn(ns: Namespace, argv: readonly string[]): LabProcess {
    this.assertLive();
    const p = spawnInNamespace(ns.name, argv);
    this.processes.add(p);
    void p.exited().then(() => this.processes.delete(p));
    return p;
  }

  /**
   * Start tcpdump on `iface` (or `any`) in `ns`, writing an unbuffered (-U) full-snaplen pcap to
   * `file`. Resolves once tcpdump reports it is listening, so no early packet is missed.
   */
  async startCapture(ns: Namespace, iface: string, file: string, opts: CaptureOptions = {}): Promise<Capture> {
    const argv = ['tcpdump', '-n', ...(opts.batched ? [] : ['--immediate-mode']), '-U', '-s', '0', '-i', iface, '-Z', 'root', '-w', file];
    if (opts.bufferKiB !== undefined) argv.push('-B', String(opts.bufferKiB));
    if (opts.sll2) argv.push('-y', 'LINUX_SLL2');
    if (opts.filter && opts.filter.length > 0) argv.push(...opts.filter);
    const proc = this.spawn(ns, argv);
    await proc.waitForOutput(/listening on/, 5000);
    const capture: Capture = {
      ns,
      iface,
      file,
      stop: async () => {
        if (!this.captures.has(capture)) return;
        this.captures.delete(capture);
        // Let packets already in flight reach the socket before we stop reading it; a batched
        // capture gets them one ring block at a time, the last one after libpcap's buffer timeout
        // (the batched quiet spell outlasts it). Immediate mode hands over each packet at once:
        // a shorter quiet spell means it has caught up, also under the lab VM's emulated CPU.
        await fileQuiet(file, opts.batched ? 1500 : 400, 20_000);
        await proc.stop('SIGINT', 3000);
      },
      missed: () => missedPackets(proc.stderr()),
      counts: () => proc.stderr().split('\n').filter((l) => /^\d+ packets? /.test(l)).join(', '),
    };
    this.captures.add(capture);
    return capture;
  }

  /** Stop every running capture (flushing their files). */
  async stopCaptures(): Promise<void> {
    await Promise.all([...this.captures].map((c) => c.stop()));
  }

  /** Starts a capture at every point, writing `<dir>/<point>.pcap`; all are listening when it
   *  resolves. Returns point → file, and the captures (to stop just these ones). */
  async captureEveryPoint(
    points: readonly CapturePoint[],
    dir: string,
    opts: Pick<CaptureOptions, 'bufferKiB' | 'batched'> = {},
  ): Promise<{ files: Record<string, string>; captures: Capture[] }> {
    const files: Record<string, string> = {};
    for (const p of points) files[p.point] = join(dir, `${p.point}.pcap`);
    const captures = await Promise.all(points.map((p) => this.startCapture(p.ns, p.iface, files[p.point]!, { ...opts, sll2: p.sll2 === true })));
    return { files, captures };
  }

  /** After traffic: waits `settleMs` so the last FIN/ACKs (and any RST) reach every capture,
   *  then stops them all. */
  async settleAndStopCaptures(settleMs: number): Promise<void> {
    await new Promise((r) => setTimeout(r, settleMs));
    await this.stopCaptures();
  }

  /** Stop captures gracefully, then kill processes and delete every namespace of this lab. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.stopCaptures().catch(() => undefined);
    await Promise.all([...this.processes].map((p) => p.stop('SIGTERM', 1000).catch(() => undefined)));
    this.destroySync();
  }

  /** Synchronous teardown for exit handlers: kill tracked processes, delete our namespaces. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const p of this.processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
    this.processes.clear();
    // Delete in reverse creation order; any namespace with our prefix is ours (also ones a
    // half-failed addNamespace left behind).
    const ours = new Set(this.namespaces.map((n) => n.name));
    for (const n of listNamespaces()) if (n.startsWith(this.prefix)) ours.add(n);
    for (const name of [...ours].reverse()) deleteNamespace(name);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private assertLive(): void {
    if (this.destroyed) throw new Error(`lab ${this.prefix} is destroyed`);
  }

  private ifNumber(ns: Namespace): number {
    return this.ifCount.get(ns.name) ?? 0;
  }

  private bump(ns: Namespace): void {
    this.ifCount.set(ns.name, this.ifNumber(ns) + 1);
  }

  private nextIfName(ns: Namespace, stem: string): string {
    return `${stem}${this.ifNumber(ns)}`;
  }

  private offloadCommand(ns: Namespace, ifname: string, profile: OffloadProfile): string[] | { argv: string[]; allowFail: true } {
    // `off` is best effort (a kernel that lacks a switch has no such offload to show either);
    // the other profiles exist to show offload artifacts, so a refused switch is an error.
    const argv = ['ip', 'netns', 'exec', ns.name, 'ethtool', '-K', ifname, ...OFFLOAD_SETTINGS[profile]];
    return profile === 'off' ? { argv, allowFail: true } : argv;
  }
}

/** Run `fn` with a fresh lab and always destroy it afterwards (also when `fn` throws). */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, opts: LabOptions = {}): Promise<T> {
  const lab = new Lab(opts);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
