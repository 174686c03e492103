/**
 * Replay scenarios: each is a small stateful client (or a set of them) that sends crafted
 * traffic to the VIP and judges, from the client's point of view, whether what came back is
 * what lvs-behavior.md says the forwarding method and profile must do.
 */
import { decodeBytes } from '../../decode/decoder.js';
import { LinkType } from '../../decode/frame.js';
import type { Packet } from '../../decode/packet.js';
import { ipv4ToString, readIpv4 } from '../../decode/addr.js';
import { PacketBuilder, type TcpOption } from '../builder/index.js';
import { InputError } from '../../errors.js';
import type { ForwardMethod } from '../../verify/service/index.js';
import type { DirectorProfile } from '../director/index.js';
import { TcpClient, type ClientIo, type ConnPlan } from './tcp-client.js';
import { Rng } from './rng.js';
import { isUdpScenario, makeUdpScenario, UDP_SCENARIOS } from './udp-client.js';

export interface ScenarioEnv {
  vip: string;
  vport: number;
  clientMac: string;
  /** MAC the client sends to (the director, or the router in front of it). */
  directorMac: string;
  /** Client addresses the replayer owns; single-client scenarios use the first. */
  clientIps: string[];
  method: ForwardMethod;
  profile: DirectorProfile;
  /** Route MTU on the director's real-server side (the client link is 1500). */
  mtu: number;
  /** Persistent service? (persistence scenario checks stickiness only then.) */
  persistent: boolean;
  rng: Rng;
}

export interface Verdict {
  ok: boolean;
  expected: string;
  observed: string;
}

export interface ScenarioRun {
  readonly name: string;
  start(io: ClientIo): void;
  /** A frame arrived for one of our addresses; true when this scenario consumed it. */
  receive(frame: Buffer, p: Packet, io: ClientIo): boolean;
  readonly done: boolean;
  verdict(): Verdict;
  sent(): number;
  received(): number;
}

export const SCENARIOS: Record<string, string> = {
  handshake: 'connect, request, response, FIN both ways',
  'syn-only': 'SYN only; expects the SYN-ACK and never completes the handshake',
  'rst-midstream': 'connect, request, then RST after the response',
  'many-clients': 'N client addresses, one connection each (scheduler distribution)',
  persistence: 'one client, many connections (sticky with persistence)',
  'ttl-1': 'SYN with TTL 1: ICMP time-exceeded from the director where it decrements TTL',
  'df-oversize': 'a 1500-byte DF request: ICMP frag-needed where the method must send it (TUN: MTU−20)',
  'options-full-syn': '40 bytes of TCP options in SYN and ACK: FullNAT has no room for TOA',
  fragmented: 'the request split into IP fragments (the director reassembles)',
  'unknown-ack': 'an ACK that matches no connection',
  'arp-probe': 'who-has VIP: exactly one answer, from the director',
  sack: 'request in two segments sent out of order: the server SACKs (FullNAT shifts SACK edges)',
  ...UDP_SCENARIOS,
};

/** The default run is the TCP set (one service, TCP): UDP scenarios are asked for by name. */
export const DEFAULT_SCENARIOS = Object.keys(SCENARIOS).filter((n) => !isUdpScenario(n));

const HTTP_GET = (vip: string, path = '/'): Buffer => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${vip}\r\nUser-Agent: lvsaudit-replay\r\n\r\n`);

function plan(env: ScenarioEnv, cip: string, over: Partial<ConnPlan> = {}): ConnPlan {
  return {
    cip,
    cport: env.rng.int(32768, 60999),
    vip: env.vip,
    vport: env.vport,
    clientMac: env.clientMac,
    directorMac: env.directorMac,
    isn: env.rng.u32(),
    ipId: env.rng.int(0, 65535),
    tsBase: env.rng.u32(),
    request: HTTP_GET(env.vip),
    ...over,
  };
}

/** Scenario made of TCP connections started `gapMs` apart, judged by `judge`. */
class ConnScenario implements ScenarioRun {
  private readonly clients: TcpClient[];
  private startedAll = false;
  constructor(
    readonly name: string,
    plans: ConnPlan[],
    private readonly judge: (clients: TcpClient[]) => Verdict,
    private readonly gapMs = 0,
  ) {
    this.clients = plans.map((p) => new TcpClient(p));
  }
  start(io: ClientIo): void {
    // Sequential connections: start the next one when the previous is done (see receive()).
    if (this.gapMs > 0) this.clients[0]!.start(io);
    else for (const c of this.clients) c.start(io);
    this.startedAll = this.gapMs === 0 || this.clients.length === 1;
  }
  receive(_frame: Buffer, p: Packet, io: ClientIo): boolean {
    const c = this.clients.find((k) => !k.done && k.matches(p)) ?? this.clients.find((k) => k.matches(p));
    if (!c) return false;
    c.receive(p, io);
    if (!this.startedAll && c.done) {
      const next = this.clients[this.clients.indexOf(c) + 1];
      if (next) {
        const delayed: ClientIo = { nowMs: () => io.nowMs() + this.gapMs, send: (f, d = 0) => io.send(f, d + this.gapMs) };
        next.start(delayed);
      } else this.startedAll = true;
    }
    return true;
  }
  get done(): boolean {
    return this.clients.every((c) => c.done);
  }
  verdict(): Verdict {
    return this.judge(this.clients);
  }
  sent(): number {
    return this.clients.reduce((n, c) => n + c.rec.sent, 0);
  }
  received(): number {
    return this.clients.reduce((n, c) => n + c.rec.received, 0);
  }
}

function describeConn(c: TcpClient): string {
  const r = c.rec;
  const parts: string[] = [];
  parts.push(r.synAck ? `SYN-ACK (mss ${r.synAckMss})` : 'no SYN-ACK');
  if (r.response.length) parts.push(`${r.response.length}B response${servedBy(c) ? ` from ${servedBy(c)}` : ''}`);
  if (r.finReceived) parts.push('FIN');
  if (r.rstReceived) parts.push('RST');
  for (const i of r.icmp) parts.push(`ICMP ${i.type}/${i.code}${i.mtu > 0 ? ` mtu ${i.mtu}` : ''} from ${i.from}`);
  return parts.join(', ');
}

function servedBy(c: TcpClient): string | null {
  const m = /served-by (\S+)/.exec(c.rec.response.toString('latin1'));
  return m ? m[1]! : null;
}

function fromVipOnly(env: ScenarioEnv, c: TcpClient): boolean {
  return [...c.rec.replySources].every((s) => s === `${env.vip}:${env.vport}`);
}

function completed(env: ScenarioEnv, c: TcpClient): boolean {
  return c.rec.synAck && c.rec.response.length > 0 && c.rec.finReceived && fromVipOnly(env, c);
}

/** Does this method/profile decrement the client→RS TTL (§1.2, R1/R2)? */
export function decrementsTtl(method: ForwardMethod, profile: DirectorProfile): boolean {
  return method !== 'fullnat' && profile === 'linux';
}

export function makeScenario(name: string, env: ScenarioEnv): ScenarioRun {
  if (isUdpScenario(name)) return makeUdpScenario(name, env);
  const cip = env.clientIps[0]!;
  const simple = (n: string, over: Partial<ConnPlan>, judge: (c: TcpClient) => Verdict): ScenarioRun =>
    new ConnScenario(n, [plan(env, cip, over)], (cs) => judge(cs[0]!));
  const expectFull = (c: TcpClient, extra = ''): Verdict => ({
    ok: completed(env, c),
    expected: `SYN-ACK, response, FIN, all from ${env.vip}:${env.vport}${extra}`,
    observed: describeConn(c) + (fromVipOnly(env, c) ? '' : ` (replies from ${[...c.rec.replySources].join(', ')})`),
  });
  switch (name) {
    case 'handshake':
      return simple(name, {}, (c) => expectFull(c));
    case 'syn-only':
      return simple(name, { synOnly: true, request: null }, (c) => ({ ok: c.rec.synAck && fromVipOnly(env, c), expected: `SYN-ACK from ${env.vip}:${env.vport}`, observed: describeConn(c) }));
    case 'rst-midstream':
      return simple(name, { end: 'rst' }, (c) => ({ ok: c.rec.synAck && c.rec.response.length > 0 && fromVipOnly(env, c), expected: 'SYN-ACK and response before our RST', observed: describeConn(c) }));
    case 'many-clients': {
      const plans = env.clientIps.map((ip) => plan(env, ip));
      return new ConnScenario(name, plans, (cs) => {
        const dist = new Map<string, number>();
        for (const c of cs) dist.set(servedBy(c) ?? '?', (dist.get(servedBy(c) ?? '?') ?? 0) + 1);
        const ok = cs.every((c) => completed(env, c));
        return {
          ok,
          expected: `${cs.length} clients complete`,
          observed: `${cs.filter((c) => completed(env, c)).length}/${cs.length} complete; served by ${[...dist].map(([k, v]) => `${k}×${v}`).join(' ')}`,
        };
      });
    }
    case 'persistence': {
      const plans = Array.from({ length: 6 }, () => plan(env, cip));
      return new ConnScenario(
        name,
        plans,
        (cs) => {
          const servers = new Set(cs.map(servedBy));
          const all = cs.every((c) => completed(env, c));
          return {
            ok: all && (!env.persistent || servers.size === 1),
            expected: env.persistent ? 'all connections on one real server' : 'all connections complete (service not persistent)',
            observed: `${cs.filter((c) => completed(env, c)).length}/${cs.length} complete; servers ${[...servers].join(', ')}`,
          };
        },
        5,
      );
    }
    case 'ttl-1':
      return simple(name, { synTtl: 1, request: null }, (c) => {
        if (decrementsTtl(env.method, env.profile)) {
          const te = c.rec.icmp.find((i) => i.type === 11 && i.code === 0);
          return { ok: !!te && !c.rec.synAck, expected: 'ICMP 11/0 time exceeded, no SYN-ACK (§1.2, R1)', observed: describeConn(c) };
        }
        return { ok: c.rec.synAck && c.rec.icmp.length === 0, expected: 'forwarded with TTL unchanged: SYN-ACK, no ICMP (R2)', observed: describeConn(c) };
      });
    case 'df-oversize': {
      // 1500-byte IP packet with DF; TS adds 12 option bytes when negotiated (FullNAT strips it).
      const limit = env.method === 'tun' ? env.mtu - 20 : env.mtu;
      const tsLen = env.method === 'fullnat' ? 0 : 12;
      const req = Buffer.alloc(1500 - 40 - tsLen, 0x41);
      return simple(name, { request: req }, (c) => {
        const fn = c.rec.icmp.find((i) => i.type === 3 && i.code === 4);
        if (1500 > limit) return { ok: !!fn && fn.mtu === limit && completed(env, c), expected: `ICMP 3/4 mtu ${limit}, then completion after resend (§1.2, R8)`, observed: describeConn(c) };
        return { ok: !fn && completed(env, c), expected: `forwarded (1500 ≤ MTU ${limit}), no ICMP`, observed: describeConn(c) };
      });
    }
    case 'options-full-syn': {
      // SYN: MSS 4 + SACKP 2 + TS 10 + NOP + WS 3 = 20, plus a 20-byte experimental option = 40.
      const syn: TcpOption[] = [
        { kind: 'mss', value: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'ts', val: env.rng.u32(), ecr: 0 },
        { kind: 'nop' },
        { kind: 'ws', shift: 7 },
        { kind: 'exp', optKind: 253, exid: 0x4c56, data: Buffer.alloc(16, 0x5a) },
      ];
      // ACK/request: 40 bytes too (28 more after NOP NOP TS when timestamps were negotiated).
      const extra = (ts: boolean): TcpOption[] =>
        ts ? [{ kind: 'exp', optKind: 253, exid: 0x4c56, data: Buffer.alloc(24, 0x5a) }] : [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }, { kind: 'nop' }, { kind: 'nop' }];
      return simple(name, { synOptions: syn, extraOptions: extra }, (c) => expectFull(c, env.method === 'fullnat' ? ' (TOA cannot be added where there is no room, §2.3/§3.1)' : ''));
    }
    case 'fragmented':
      return simple(name, { request: Buffer.concat([HTTP_GET(env.vip, '/frag'), Buffer.alloc(1100, 0x62)]), fragmentMtu: 576 }, (c) => expectFull(c, ' (request reassembled by the director)'));
    case 'sack':
      return simple(name, { outOfOrder: true }, (c) => expectFull(c));
    case 'unknown-ack':
      return new UnknownAck(env);
    case 'arp-probe':
      return new ArpProbe(env);
    default:
      throw new InputError(`unknown scenario "${name}" (known: ${DEFAULT_SCENARIOS.join(', ')})`);
  }
}

/** One ACK of no connection: mainline's own stack answers RST from the VIP (§1.7, inferred); ALI drops (§2.6); DPVS does not schedule it (§3.1). */
class UnknownAck implements ScenarioRun {
  readonly name = 'unknown-ack';
  private readonly cport: number;
  private readonly seq: number;
  private readonly ack: number;
  private rst: { seq: number } | null = null;
  private got = 0;
  private sentN = 0;
  done = false;
  constructor(private readonly env: ScenarioEnv) {
    this.cport = env.rng.int(32768, 60999);
    this.seq = env.rng.u32();
    this.ack = env.rng.u32();
  }
  start(io: ClientIo): void {
    const f = PacketBuilder.eth({ src: this.env.clientMac, dst: this.env.directorMac })
      .ipv4({ src: this.env.clientIps[0]!, dst: this.env.vip, ttl: 64, id: this.env.rng.int(0, 65535), df: true })
      .tcp({ sport: this.cport, dport: this.env.vport, seq: this.seq, ack: this.ack, flags: 'A' })
      .build();
    io.send(f);
    this.sentN++;
  }
  receive(_f: Buffer, p: Packet): boolean {
    if (p.net.l4 !== 'tcp' || p.net.tcp.dport !== this.cport || ipv4ToString(p.net.ip.dst4) !== this.env.clientIps[0]) return false;
    this.got++;
    if (p.net.tcp.flags & 0x04) this.rst = { seq: p.net.tcp.seq };
    this.done = true;
    return true;
  }
  verdict(): Verdict {
    const linux = this.env.profile === 'linux' || this.env.profile === 'linux-legacy';
    const observed = this.rst ? `RST seq ${this.rst.seq}` : this.got ? `${this.got} packets` : 'nothing';
    if (linux) return { ok: !!this.rst && this.rst.seq === this.ack, expected: `RST from ${this.env.vip} with seq = our ack (director stack, §1.7 inferred)`, observed };
    return { ok: this.got === 0, expected: 'silently dropped (§2.6 / §3.1)', observed };
  }
  sent(): number {
    return this.sentN;
  }
  received(): number {
    return this.got;
  }
}

/** who-has VIP: only the director may answer (R14). */
class ArpProbe implements ScenarioRun {
  readonly name = 'arp-probe';
  private readonly answers = new Map<string, number>();
  done = false;
  constructor(private readonly env: ScenarioEnv) {}
  start(io: ClientIo): void {
    const f = PacketBuilder.eth({ src: this.env.clientMac, dst: 'ff:ff:ff:ff:ff:ff', minLength: 60 })
      .arp({ op: 1, sha: this.env.clientMac, spa: this.env.clientIps[0]!, tha: '00:00:00:00:00:00', tpa: this.env.vip })
      .build();
    io.send(f);
  }
  receive(frame: Buffer, p: Packet): boolean {
    if (!p.arp.present || p.arp.op !== 2 || ipv4ToString(readIpv4(frame, p.arp.spaOff)) !== this.env.vip) return false;
    const m = [...frame.subarray(p.arp.shaOff, p.arp.shaOff + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    this.answers.set(m, (this.answers.get(m) ?? 0) + 1);
    this.done = true;
    return true;
  }
  verdict(): Verdict {
    const macs = [...this.answers.keys()];
    return {
      ok: macs.length === 1 && macs[0] === this.env.directorMac.toLowerCase(),
      expected: `one answer, from the director ${this.env.directorMac}`,
      observed: macs.length ? macs.map((m) => `${m}×${this.answers.get(m)}`).join(', ') : 'no answer',
    };
  }
  sent(): number {
    return 1;
  }
  received(): number {
    return [...this.answers.values()].reduce((a, b) => a + b, 0);
  }
}

/** Decodes a frame for scenarios (allocates: the replayer is not a hot path). */
export function decodeForScenario(frame: Buffer): Packet {
  return decodeBytes(frame, LinkType.ETHERNET);
}
