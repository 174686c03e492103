/**
 * `lvsaudit replay`: runs crafted scenarios.
 *  - write mode (no NIC): the scenarios run in-process against the reference director and
 *    simulated real servers; the client capture (and with `outDir` every capture point plus the
 *    service.conf) is written. Seeded: the same options give byte-identical files, so the output
 *    can be a fixture — this is how the project makes FullNAT and TUN captures without a kernel.
 *  - live mode: the scenarios' frames go out of a named interface through libpcap (`cap`), the
 *    replayer answers ARP for the client addresses it owns (so the kernel never RSTs crafted
 *    connections), sends at most `rate` frames per second and records what comes back.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PcapWriter } from '../decode/capture/index.js';
import { EnvironmentError, InputError } from '../errors.js';
import { ipv4ToString } from '../decode/addr.js';
import { CapPort, interfaceMac } from '../decode/capture/cap-port.js';
import { PacketBuilder } from './builder/index.js';
import { parseServiceConfig, type ForwardMethod, type ServiceSet } from '../verify/service/index.js';
import type { DirectorConfig, DirectorProfile, UoaMode } from './director/index.js';
import { DEFAULT_SCENARIOS, decodeForScenario, makeScenario, SCENARIOS, type ScenarioEnv } from './scenarios/catalog.js';
import { Rng } from './scenarios/rng.js';
import { isUdpScenario, UDP_MULTI_CLIENT } from './scenarios/udp-client.js';
import { World, type CapturedFrame, type PointName, type ScenarioResult, type WorldServer } from './scenarios/world.js';

/** Topology of written capture sets (same plan as fixtures/verify). */
export const TOPOLOGY = {
  cip: '198.51.100.7',
  /** many-clients uses cip plus these. */
  extraClientBase: '198.51.100.',
  extraClientStart: 20,
  vip: '192.0.2.10',
  vport: 80,
  dip: '10.0.0.1',
  lip: '10.0.0.100',
  rips: ['10.0.0.11', '10.0.0.12'],
  mac: {
    client: '02:00:00:00:00:07',
    dirOut: '02:00:00:00:0d:01',
    dirIn: '02:00:00:00:0d:02',
    rs: ['02:00:00:00:00:11', '02:00:00:00:00:12'],
  },
  /** 2026-01-01T00:00:00Z: timestamps of written captures start here. */
  epochSec: 1767225600,
} as const;

export interface ReplayWriteOptions {
  scenarios?: string[];
  /** Protocol of the written service; default from the scenarios (UDP ones → udp). Mixing TCP
   *  and UDP scenarios in one run is a usage error: a run writes one service. */
  proto?: 'tcp' | 'udp';
  /** VIP and port of the written service (default TOPOLOGY.vip:vport). */
  vip?: string;
  vport?: number;
  method: ForwardMethod;
  profile?: DirectorProfile;
  faults?: string[];
  seed?: number;
  scheduler?: string;
  /** Persistence timeout (s) for the written service; null/undefined = not persistent. */
  persistence?: number | null;
  /** Real-server weights (default 1, 1). */
  weights?: [number, number];
  /** RS-side route MTU of the director (default 1500). */
  mtu?: number;
  /** Client addresses for many-clients (default 8). */
  clients?: number;
  /** Format of the written service.conf (default ipvsadm save). */
  configFormat?: 'ipvsadm' | 'keepalived';
  /** Profile dpvs, FullNAT UDP: DPVS's `uoa_mode` (default opp) and `uoa_max_trail` (default 3). */
  uoaMode?: UoaMode;
  uoaMaxTrail?: number;
  /** FullNAT local addresses, taken in turn per new connection (default TOPOLOGY.lip). */
  lips?: string[];
}

export interface ReplayRun {
  results: ScenarioResult[];
  captures: Map<PointName, CapturedFrame[]>;
  serviceConf: string;
  services: ServiceSet;
}

/** UDP sets serve DNS: VIP port 53, NAT real-server port 5353. */
export const UDP_VPORT = 53;
const UDP_NAT_RPORT = 5353;

/** The protocol of a run: given, or from its scenarios (all UDP → udp, all TCP → tcp). */
export function serviceProto(o: ReplayWriteOptions): 'tcp' | 'udp' {
  const names = o.scenarios && o.scenarios.length ? o.scenarios : DEFAULT_SCENARIOS;
  const udp = names.filter(isUdpScenario);
  if (udp.length > 0 && udp.length < names.length) {
    throw new InputError(`scenarios ${udp.join(', ')} need a UDP service and ${names.filter((n) => !isUdpScenario(n)).join(', ')} a TCP one: run them separately`);
  }
  const derived = udp.length > 0 ? 'udp' : 'tcp';
  if (o.proto && o.proto !== derived) throw new InputError(`proto ${o.proto} does not fit scenarios ${names.join(', ')}`);
  return derived;
}

/** The service config of a written set, in ipvsadm-save or keepalived form. */
export function serviceConfText(o: ReplayWriteOptions): string {
  const proto = serviceProto(o);
  const T = { ...TOPOLOGY, vip: o.vip ?? TOPOLOGY.vip, vport: o.vport ?? (proto === 'udp' ? UDP_VPORT : TOPOLOGY.vport) };
  const natRport = proto === 'udp' ? UDP_NAT_RPORT : 8080;
  const rport = o.method === 'nat' || o.method === 'fullnat' ? natRport : T.vport;
  const sched = o.scheduler ?? 'rr';
  const weights = o.weights ?? [1, 1];
  const lips = o.lips && o.lips.length ? o.lips : [T.lip];
  if (o.configFormat === 'keepalived') {
    const kind = { nat: 'NAT', dr: 'DR', tun: 'TUN', fullnat: 'FNAT' }[o.method];
    const lines: string[] = [];
    if (o.method === 'fullnat') lines.push('local_address_group laddr_g1 {', ...lips.map((l) => `    ${l}`), '}', '');
    lines.push(`virtual_server ${T.vip} ${T.vport} {`, `    lb_algo ${sched}`, `    lb_kind ${kind}`, `    protocol ${proto.toUpperCase()}`);
    if (o.persistence) lines.push(`    persistence_timeout ${o.persistence}`);
    if (o.method === 'fullnat') lines.push('    laddr_group_name laddr_g1');
    T.rips.forEach((r, i) => lines.push(`    real_server ${r} ${rport} {`, `        weight ${weights[i]}`, '    }'));
    lines.push('}');
    return lines.join('\n') + '\n';
  }
  const sw = { nat: '-m', dr: '-g', tun: '-i', fullnat: '-b' }[o.method];
  const pf = proto === 'udp' ? '-u' : '-t';
  const lines = [`-A ${pf} ${T.vip}:${T.vport} -s ${sched}${o.persistence ? ` -p ${o.persistence}` : ''}`];
  T.rips.forEach((r, i) => lines.push(`-a ${pf} ${T.vip}:${T.vport} -r ${r}:${rport} ${sw} -w ${weights[i]}`));
  if (o.method === 'fullnat') for (const l of lips) lines.push(`-P ${pf} ${T.vip}:${T.vport} -z ${l}`);
  return lines.join('\n') + '\n';
}

function defaultProfile(method: ForwardMethod): DirectorProfile {
  return method === 'fullnat' ? 'alibaba' : 'linux';
}

/** Runs the scenarios in-process (no NIC) and returns every capture point's frames. */
export function runWrite(o: ReplayWriteOptions): ReplayRun {
  const proto = serviceProto(o);
  const T = { ...TOPOLOGY, vip: o.vip ?? TOPOLOGY.vip, vport: o.vport ?? (proto === 'udp' ? UDP_VPORT : TOPOLOGY.vport) };
  const profile = o.profile ?? defaultProfile(o.method);
  if (o.method === 'fullnat' && profile !== 'alibaba' && profile !== 'dpvs') throw new InputError(`--method fullnat needs --profile alibaba or dpvs (got ${profile})`);
  const names = o.scenarios && o.scenarios.length ? o.scenarios : DEFAULT_SCENARIOS;
  for (const n of names) if (!(n in SCENARIOS)) throw new InputError(`unknown scenario "${n}" (known: ${DEFAULT_SCENARIOS.join(', ')})`);
  const seed = (o.seed ?? 1) >>> 0;
  const serviceConf = serviceConfText(o);
  const services = parseServiceConfig(serviceConf, 'service.conf');
  const twoNics = o.method === 'nat' || o.method === 'fullnat';
  const dirRs = twoNics ? T.mac.dirIn : T.mac.dirOut;
  const realServers: Record<string, string> = {};
  T.rips.forEach((r, i) => (realServers[r] = T.mac.rs[i]!));
  const cfg: DirectorConfig = {
    services,
    profile,
    macs: { director: T.mac.dirOut, directorRs: dirRs, realServers },
    directorIps: { dip: T.dip, lips: o.lips && o.lips.length ? o.lips : [T.lip] },
    faults: o.faults ?? [],
    mtu: o.mtu ?? 1500,
    seed,
    ...(o.uoaMode !== undefined ? { uoaMode: o.uoaMode } : {}),
    ...(o.uoaMaxTrail !== undefined ? { uoaMaxTrail: o.uoaMaxTrail } : {}),
  };
  const servers: WorldServer[] = T.rips.map((rip, i) => ({
    name: `rs${i + 1}`,
    rip,
    mac: T.mac.rs[i]!,
    replyMac: twoNics ? dirRs : T.mac.client,
    addresses: twoNics ? [rip] : [rip, T.vip],
    ipip: o.method === 'tun',
  }));
  const world = new World(cfg, servers, twoNics, seed);
  world.setClientMac(T.mac.client);
  const rng = new Rng(seed);
  const nClients = o.clients ?? 8;
  const clientIps = [T.cip, ...Array.from({ length: Math.max(0, nClients - 1) }, (_, i) => `${T.extraClientBase}${T.extraClientStart + i}`)];
  const env: ScenarioEnv = {
    vip: T.vip,
    vport: T.vport,
    clientMac: T.mac.client,
    directorMac: T.mac.dirOut,
    clientIps,
    method: o.method,
    profile,
    mtu: o.mtu ?? 1500,
    persistent: !!o.persistence,
    rng,
  };
  const runs = names.map((n) => makeScenario(n, multiClient(n) ? env : { ...env, clientIps: [T.cip] }));
  const results = world.run(runs);
  return { results, captures: world.captures, serviceConf, services };
}

/** Scenarios that use every client address (the others use the first). */
function multiClient(name: string): boolean {
  return name === 'many-clients' || UDP_MULTI_CLIENT.has(name);
}

/** Writes one point's frames as a classic pcap (ns timestamps from TOPOLOGY.epochSec). */
export function capturePcap(frames: readonly CapturedFrame[], file?: string): Buffer {
  const w = new PcapWriter(file ? { path: file, linkType: 1 } : { linkType: 1 });
  for (const f of frames) {
    const totalNs = Math.round(f.ms * 1e6);
    const sec = TOPOLOGY.epochSec + Math.floor(totalNs / 1e9);
    w.write(f.frame, sec, totalNs % 1e9);
  }
  const out = file ? Buffer.alloc(0) : w.toBuffer();
  w.close();
  return out;
}

/** Writes client.pcap, director.pcap (+ director-eth0/eth1 for two-NIC methods), rs1.pcap, rs2.pcap, service.conf. */
export function writeCaptureSet(dir: string, run: ReplayRun): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [point, frames] of run.captures) {
    const file = path.join(dir, `${point}.pcap`);
    capturePcap(frames, file);
    written.push(file);
  }
  const conf = path.join(dir, 'service.conf');
  writeFileSync(conf, run.serviceConf);
  written.push(conf);
  return written;
}

/** Text report: per scenario what was sent, what came back, and the verdict. */
export function formatResults(results: readonly ScenarioResult[], withEvents = false): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.verdict.ok ? 'PASS' : 'FAIL'}  ${r.name}: sent ${r.sent}, received ${r.received}`);
    lines.push(`      expected: ${r.verdict.expected}`);
    lines.push(`      observed: ${r.verdict.observed}`);
    if (withEvents) for (const e of r.directorEvents) lines.push(`      director[${e.ingress}] ${e.action}: ${e.detail}`);
  }
  const failed = results.filter((r) => !r.verdict.ok).length;
  lines.push(`${results.length - failed}/${results.length} scenarios as expected`);
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------ live mode

export interface ReplayLiveOptions {
  iface: string;
  vip: string;
  vport: number;
  scenarios: string[];
  method: ForwardMethod;
  profile: DirectorProfile;
  mtu: number;
  seed: number;
  /** Frames per second, at most. */
  rate: number;
  /** Client addresses the replayer owns (answers ARP for them); first is the main one. */
  clientIps: string[];
  /** many-clients: how many of clientIps to use (the rest are derived when too few are given). */
  clients: number;
  clientMac?: string | undefined;
  directorMac?: string | undefined;
  timeoutMs: number;
  capture?: string | undefined;
  /** Stop early (tests, SIGINT). */
  signal?: AbortSignal;
}

/** Runs the scenarios on a real interface. Needs root (or CAP_NET_RAW) and the `cap` module. */
export async function runLive(o: ReplayLiveOptions): Promise<ScenarioResult[]> {
  if (o.clientIps.length === 0) throw new InputError('--iface needs --client-ip IP: an address the replayer owns (not configured on this host, routed to this interface by the director)');
  const clientMac = (o.clientMac ?? interfaceMac(o.iface)).toLowerCase();
  const owned = new Set(o.clientIps);
  const capture = o.capture ? new PcapWriter({ path: o.capture, linkType: 1 }) : null;
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const record = (frame: Buffer): void => {
    if (!capture) return;
    const ns = Math.round((Date.now() % 1000) * 1e6);
    capture.write(frame, Math.floor(Date.now() / 1000), ns);
  };
  let onPacket: (frame: Buffer, p: ReturnType<typeof decodeForScenario>) => void = () => undefined;
  let port: CapPort | null = null;
  // Rate-limited sender: one frame every 1000/rate ms.
  const queue: Buffer[] = [];
  let nextSendAt = 0;
  let timer: NodeJS.Timeout | null = null;
  const pump = (): void => {
    if (timer) return;
    const tick = (): void => {
      timer = null;
      while (queue.length && now() >= nextSendAt) {
        const f = queue.shift()!;
        port?.send(f);
        record(f);
        nextSendAt = Math.max(nextSendAt, now()) + 1000 / o.rate;
      }
      if (queue.length) timer = setTimeout(tick, Math.max(0, nextSendAt - now()));
    };
    tick();
  };
  port = await CapPort.open(o.iface, 'replay --iface', (frame) => {
    const p = decodeForScenario(frame);
    if (p.eth.present && macAt(frame, p.eth.srcOff) === clientMac) return; // our own frames, looped back by libpcap
    if (p.arp.present && p.arp.isEthIpv4 && p.arp.op === 1 && owned.has(ipv4ToString(p.arp.tpa))) {
      // Answer for the client addresses we own, so the director (or its router) can reach them.
      const reply = PacketBuilder.eth({ src: clientMac, dst: macAt(frame, p.arp.shaOff), minLength: 60 })
        .arp({ op: 2, sha: clientMac, spa: ipv4ToString(p.arp.tpa), tha: macAt(frame, p.arp.shaOff), tpa: ipv4ToString(p.arp.spa) })
        .build();
      queue.push(reply);
      pump();
      record(frame);
      return;
    }
    const dst = p.net.ip.version === 4 ? ipv4ToString(p.net.ip.dst4) : '';
    const relevant = (p.arp.present && p.arp.op === 2) || owned.has(dst);
    if (!relevant) return;
    record(frame);
    onPacket(frame, p);
  });
  try {
    const directorMac = (o.directorMac ?? (await resolveMac(o, clientMac, (cb) => (onPacket = cb), queue, pump))).toLowerCase();
    const rng = new Rng(o.seed);
    const many = o.clientIps.slice(0, o.clients);
    const env: ScenarioEnv = { vip: o.vip, vport: o.vport, clientMac, directorMac, clientIps: many, method: o.method, profile: o.profile, mtu: o.mtu, persistent: false, rng };
    const results: ScenarioResult[] = [];
    for (const name of o.scenarios) {
      if (o.signal?.aborted) break;
      const sc = makeScenario(name, multiClient(name) ? env : { ...env, clientIps: [o.clientIps[0]!] });
      const io = {
        nowMs: now,
        send: (frame: Buffer, delayMs = 0): void => {
          if (delayMs > 0) setTimeout(() => (queue.push(frame), pump()), delayMs);
          else queue.push(frame), pump();
        },
      };
      onPacket = (frame, p) => void sc.receive(frame, p, io);
      sc.start(io);
      const deadline = now() + o.timeoutMs;
      while (!sc.done && now() < deadline && !o.signal?.aborted) await sleep(10);
      // Let stragglers (e.g. the last ACK) go out before the next scenario.
      await sleep(50);
      results.push({ name: sc.name, sent: sc.sent(), received: sc.received(), verdict: sc.verdict(), directorEvents: [] });
    }
    return results;
  } finally {
    if (timer) clearTimeout(timer);
    port.close();
    capture?.close();
  }
}

async function resolveMac(
  o: ReplayLiveOptions,
  clientMac: string,
  listen: (cb: (frame: Buffer, p: ReturnType<typeof decodeForScenario>) => void) => void,
  queue: Buffer[],
  pump: () => void,
): Promise<string> {
  let found: string | null = null;
  listen((frame, p) => {
    if (p.arp.present && p.arp.op === 2 && ipv4ToString(p.arp.spa) === o.vip) found ??= macAt(frame, p.arp.shaOff);
  });
  for (let i = 0; i < 3 && !found; i++) {
    queue.push(
      PacketBuilder.eth({ src: clientMac, dst: 'ff:ff:ff:ff:ff:ff', minLength: 60 })
        .arp({ op: 1, sha: clientMac, spa: o.clientIps[0]!, tha: '00:00:00:00:00:00', tpa: o.vip })
        .build(),
    );
    pump();
    for (let w = 0; w < 50 && !found; w++) await sleep(10);
  }
  if (!found) throw new EnvironmentError(`replay: nobody answered ARP for ${o.vip} on ${o.iface} (give --director-mac)`);
  return found;
}

function macAt(b: Buffer, off: number): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
