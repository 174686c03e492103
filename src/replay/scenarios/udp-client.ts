/**
 * UDP request/response scenarios (a DNS-like service, `ipvsadm -A -u VIP:53`): clients send small
 * DNS queries to the VIP and expect each answer from VIP:vport with the query's id. A "stub"
 * port of each client sends several queries (one IPVS UDP connection entry, re-armed by every
 * datagram, lvs-behavior.md §1.8 "UDP normal 300 s"), and each client also queries from fresh
 * ports (each a new entry, so a new scheduling decision, §1.10).
 *
 * Queries are sent on a fixed timetable rather than one after another's answer: a director
 * that drops a datagram (fault drop-every-nth) must not stall the rest of the run, and the
 * captures then show exactly the one missing forward. The simulated real servers answer with
 * `dnsAnswer` (a TXT record naming the server), so the client can tell who served each query.
 */
import { ipv4ToString } from '../../decode/addr.js';
import type { Packet } from '../../decode/packet.js';
import { PacketBuilder } from '../builder/index.js';
import type { ClientIo } from './tcp-client.js';
import type { ScenarioEnv, ScenarioRun, Verdict } from './catalog.js';

/** UDP scenarios: name → description (registered in catalog.ts; they make runWrite write a UDP service). */
export const UDP_SCENARIOS: Record<string, string> = {
  'udp-dns': 'UDP DNS-like queries from up to 3 clients: 3 from one port each, 2 from fresh ports (one without UDP checksum)',
  'udp-burst': 'one client, 12 queries from 12 fresh ports (one scheduling decision each)',
};

export const isUdpScenario = (name: string): boolean => Object.prototype.hasOwnProperty.call(UDP_SCENARIOS, name);

/** Scenarios that spread over several client addresses (get all of env.clientIps). */
export const UDP_MULTI_CLIENT = new Set(['udp-dns']);

/** Milliseconds between two queries of one scenario (each answer is back long before). */
const QUERY_GAP_MS = 20;

interface Query {
  cip: string;
  cport: number;
  id: number;
  name: string;
  /** Send with UDP checksum 0 ("no checksum", allowed for IPv4). */
  zeroChecksum: boolean;
  atMs: number;
  /** What came back for it. */
  answers: { from: string; servedBy: string | null }[];
}

/** A DNS query: header (id, RD, one question) + QNAME + type A + class IN. */
export function dnsQuery(id: number, name: string): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, encodeName(name), Buffer.from([0, 1, 0, 1])]);
}

/**
 * The answer a simulated real server gives to `query` (null when it is not a DNS query): same
 * id, QR|RD|RA, the question echoed, one TXT record "served-by NAME" (pointer to the question).
 */
export function dnsAnswer(query: Buffer, server: string): Buffer | null {
  if (query.length < 17 || (query.readUInt16BE(2) & 0x8000) !== 0 || query.readUInt16BE(4) !== 1) return null;
  let off = 12;
  while (off < query.length && query[off]! !== 0) off += query[off]! + 1;
  const qEnd = off + 5;
  if (qEnd > query.length) return null;
  const head = Buffer.from(query.subarray(0, 12));
  head.writeUInt16BE(0x8180, 2);
  head.writeUInt16BE(1, 6);
  const txt = Buffer.from(`served-by ${server}`, 'latin1');
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(16, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(txt.length + 1, 10);
  return Buffer.concat([head, query.subarray(12, qEnd), rr, Buffer.from([txt.length]), txt]);
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((l) => l.length > 0);
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/** "served-by rsN" from an answer's TXT record, if any. */
function servedByOf(payload: Buffer): string | null {
  const m = /served-by (\S+)/.exec(payload.toString('latin1'));
  return m ? m[1]! : null;
}

export class UdpQueryScenario implements ScenarioRun {
  private readonly queries: Query[] = [];
  private readonly ipIds = new Map<string, number>();
  private sentN = 0;
  private receivedN = 0;
  /** Datagrams to one of our ports that answered no query of ours. */
  private strays = 0;

  constructor(
    readonly name: string,
    private readonly env: ScenarioEnv,
    /** Per client: how many queries from its one stub port, and how many from fresh ports. */
    plan: { clients: number; samePort: number; freshPorts: number; zeroChecksumFresh: boolean },
  ) {
    const clients = env.clientIps.slice(0, Math.max(1, plan.clients));
    let at = 0;
    for (const [ci, cip] of clients.entries()) {
      this.ipIds.set(cip, env.rng.int(0, 65535));
      const stub = env.rng.int(32768, 60999);
      for (let k = 0; k < plan.samePort; k++) this.queries.push(this.query(cip, stub, `q${k}.c${ci}.example`, false, (at += QUERY_GAP_MS)));
      for (let k = 0; k < plan.freshPorts; k++) {
        // Fresh ports never collide with the stub port (a collision would just be one more query on it).
        let port = env.rng.int(32768, 60999);
        while (port === stub) port = env.rng.int(32768, 60999);
        const zero = plan.zeroChecksumFresh && ci === 0 && k === 0;
        this.queries.push(this.query(cip, port, `f${k}.c${ci}.example`, zero, (at += QUERY_GAP_MS)));
      }
    }
  }

  private query(cip: string, cport: number, name: string, zeroChecksum: boolean, atMs: number): Query {
    return { cip, cport, id: this.env.rng.int(1, 65535), name, zeroChecksum, atMs, answers: [] };
  }

  start(io: ClientIo): void {
    for (const q of this.queries) {
      const id = this.ipIds.get(q.cip)!;
      this.ipIds.set(q.cip, (id + 1) & 0xffff);
      const frame = PacketBuilder.eth({ src: this.env.clientMac, dst: this.env.directorMac })
        // Linux sets DF on UDP from a socket with the default PMTU discovery (IP_PMTUDISC_WANT).
        .ipv4({ src: q.cip, dst: this.env.vip, ttl: 64, id, df: true })
        .udp({ sport: q.cport, dport: this.env.vport, ...(q.zeroChecksum ? { checksum: 'zero' as const } : {}) })
        .payload(dnsQuery(q.id, q.name))
        .build();
      io.send(frame, q.atMs);
      this.sentN++;
    }
  }

  receive(frame: Buffer, p: Packet): boolean {
    const n = p.net;
    if (n.ip.version !== 4 || n.l4 !== 'udp') return false;
    const dst = ipv4ToString(n.ip.dst4);
    const dport = n.udp.dport;
    const mine = this.queries.filter((q) => q.cip === dst && q.cport === dport);
    if (mine.length === 0) return false;
    this.receivedN++;
    const payload = frame.subarray(n.udp.payloadOff, n.udp.payloadOff + n.udp.payloadLen);
    const id = payload.length >= 2 ? payload.readUInt16BE(0) : -1;
    const q = mine.find((x) => x.id === id);
    if (!q) {
      this.strays++;
      return true;
    }
    q.answers.push({ from: `${ipv4ToString(n.ip.src4)}:${n.udp.sport}`, servedBy: servedByOf(payload) });
    return true;
  }

  get done(): boolean {
    return this.queries.every((q) => q.answers.length > 0);
  }

  verdict(): Verdict {
    const vipPort = `${this.env.vip}:${this.env.vport}`;
    const good = this.queries.filter((q) => q.answers.length === 1 && q.answers[0]!.from === vipPort);
    const unanswered = this.queries.filter((q) => q.answers.length === 0).length;
    const wrongSrc = new Set(this.queries.flatMap((q) => q.answers.filter((a) => a.from !== vipPort).map((a) => a.from)));
    const dist = new Map<string, number>();
    for (const q of good) {
      const s = q.answers[0]!.servedBy ?? '?';
      dist.set(s, (dist.get(s) ?? 0) + 1);
    }
    const parts = [`${good.length}/${this.queries.length} answered from ${vipPort}`];
    if (unanswered) parts.push(`${unanswered} unanswered`);
    if (wrongSrc.size) parts.push(`answers from ${[...wrongSrc].join(', ')}`);
    if (this.strays) parts.push(`${this.strays} answers matching no query`);
    parts.push(`served by ${[...dist].map(([k, v]) => `${k}×${v}`).join(' ') || 'nobody'}`);
    return {
      ok: good.length === this.queries.length && this.strays === 0,
      expected: `each of ${this.queries.length} queries answered once, with its id, from ${vipPort}`,
      observed: parts.join('; '),
    };
  }

  sent(): number {
    return this.sentN;
  }

  received(): number {
    return this.receivedN;
  }
}

export function makeUdpScenario(name: string, env: ScenarioEnv): ScenarioRun {
  if (name === 'udp-burst') return new UdpQueryScenario(name, env, { clients: 1, samePort: 0, freshPorts: 12, zeroChecksumFresh: false });
  return new UdpQueryScenario(name, env, { clients: 3, samePort: 3, freshPorts: 2, zeroChecksumFresh: true });
}
