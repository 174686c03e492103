/**
 * A small stateful TCP client for crafted scenarios: it sends a SYN from an address the replayer
 * owns, answers the SYN-ACK with the right seq/ack (and TS echo when negotiated), sends a request,
 * acks the response, then closes with FIN (or RST), recording what came back. Everything it
 * would randomise comes from the scenario's seeded generator, so runs are byte-identical.
 */
import { ipv4ToString } from '../../decode/addr.js';
import type { Packet } from '../../decode/packet.js';
import { isSynAck } from '../../decode/proto/tcp.js';
import { fragmentIpv4, PacketBuilder, type TcpOption } from '../builder/index.js';

export interface ClientIo {
  /** Sends an Ethernet frame `delayMs` after now. */
  send(frame: Buffer, delayMs?: number): void;
  nowMs(): number;
}

export interface ConnPlan {
  cip: string;
  cport: number;
  vip: string;
  vport: number;
  clientMac: string;
  directorMac: string;
  /** Initial sequence number and first IP ID (from the scenario's generator). */
  isn: number;
  ipId: number;
  tsBase: number;
  /** TTL of the SYN (ttl-1 scenario), default 64. */
  synTtl?: number;
  /** SYN options; default Linux's: MSS 1460, SACK-permitted, TS, NOP, WS 7. */
  synOptions?: TcpOption[];
  /** Options added to the handshake-completing ACK and the request (options-full-syn); told
   *  whether timestamps were negotiated so the total can be made exactly 40 bytes. */
  extraOptions?: (ts: boolean) => TcpOption[];
  /** Request payload; null = stop after the handshake. */
  request: Buffer | null;
  /** Send the request with DF (default true). */
  requestDf?: boolean;
  /** Send the request as IP fragments of this MTU (DF cleared). */
  fragmentMtu?: number;
  /** Send the request in two segments, the second first (the server answers with SACK). */
  outOfOrder?: boolean;
  /** How the client ends: 'fin' (default), 'rst' (after the response), 'none'. */
  end?: 'fin' | 'rst' | 'none';
  /** Stop after the SYN-ACK without answering (syn-only). */
  synOnly?: boolean;
}

export interface ConnRecord {
  synAck: boolean;
  /** MSS the client saw in the SYN-ACK (-1 none). */
  synAckMss: number;
  /** Bytes of response payload received. */
  response: Buffer;
  icmp: { type: number; code: number; mtu: number; from: string }[];
  rstReceived: boolean;
  finReceived: boolean;
  closed: boolean;
  /** Addresses replies came from (src ip:port), to spot RIP leaks. */
  replySources: Set<string>;
  sent: number;
  received: number;
}

const DEFAULT_SYN_OPTS = (tsVal: number): TcpOption[] => [
  { kind: 'mss', value: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'ts', val: tsVal, ecr: 0 },
  { kind: 'nop' },
  { kind: 'ws', shift: 7 },
];

export class TcpClient {
  readonly rec: ConnRecord = {
    synAck: false,
    synAckMss: -1,
    response: Buffer.alloc(0),
    icmp: [],
    rstReceived: false,
    finReceived: false,
    closed: false,
    replySources: new Set(),
    sent: 0,
    received: 0,
  };
  private sndNxt: number;
  private rcvNxt = 0;
  private ipId: number;
  private ts = false;
  private tsEcr = 0;
  private finSent = false;
  private unacked: Buffer | null = null;
  private unackedSeq = 0;
  private readonly cipNum: number;

  constructor(readonly plan: ConnPlan) {
    this.sndNxt = plan.isn >>> 0;
    this.ipId = plan.ipId & 0xffff;
    this.cipNum = ipNum(plan.cip);
  }

  get done(): boolean {
    return this.rec.closed;
  }

  start(io: ClientIo): void {
    const opts = this.plan.synOptions ?? DEFAULT_SYN_OPTS(this.tsVal(io));
    this.emit(io, 'S', Buffer.alloc(0), opts, { ttl: this.plan.synTtl ?? 64 });
    this.sndNxt = (this.sndNxt + 1) >>> 0;
  }

  /** True when `p` belongs to this connection (a TCP segment to us, or an ICMP error quoting ours). */
  matches(p: Packet): boolean {
    const n = p.net;
    if (n.ip.version !== 4 || n.ip.dst4 >>> 0 !== this.cipNum) return false;
    if (n.l4 === 'tcp') return n.tcp.dport === this.plan.cport;
    if (n.l4 === 'icmp' && p.quoted.ip.version === 4) return p.quoted.ip.src4 >>> 0 === this.cipNum && p.quoted.tcp.sport === this.plan.cport;
    return false;
  }

  receive(p: Packet, io: ClientIo): void {
    const n = p.net;
    this.rec.received++;
    if (n.l4 === 'icmp') {
      this.rec.icmp.push({ type: n.icmp.type, code: n.icmp.code, mtu: n.icmp.mtu, from: ipv4ToString(n.ip.src4) });
      if (n.icmp.type === 3 && n.icmp.code === 4 && n.icmp.mtu > 0 && this.unacked) {
        // Path MTU discovery: resend the unacknowledged data in segments that fit.
        this.resendSmaller(io, n.icmp.mtu);
        return;
      }
      this.rec.closed = true;
      return;
    }
    const t = n.tcp;
    this.rec.replySources.add(`${ipv4ToString(n.ip.src4)}:${t.sport}`);
    if (t.flags & 0x04) {
      this.rec.rstReceived = true;
      this.rec.closed = true;
      return;
    }
    if (isSynAck(t)) {
      if (t.ack !== this.sndNxt) return; // not for our SYN
      this.rec.synAck = true;
      this.rec.synAckMss = t.mss;
      this.rcvNxt = (t.seq + 1) >>> 0;
      this.ts = t.tsPresent;
      this.tsEcr = t.tsVal;
      if (this.plan.synOnly) {
        this.rec.closed = true;
        return;
      }
      if (this.plan.synTtl !== undefined && this.plan.synTtl <= 1) {
        // ttl-1 on a director that forwards anyway: reset so the server does not wait.
        this.emit(io, 'R', Buffer.alloc(0), []);
        this.rec.closed = true;
        return;
      }
      this.emit(io, 'A', Buffer.alloc(0), this.plan.extraOptions?.(this.ts) ?? []);
      if (this.plan.request) this.sendRequest(io, this.plan.request);
      else if ((this.plan.end ?? 'fin') === 'fin') this.sendFin(io);
      return;
    }
    if (t.tsPresent) this.tsEcr = t.tsVal;
    if (t.flags & 0x10 && this.unacked && seqGe(t.ack, (this.unackedSeq + this.unacked.length) >>> 0)) this.unacked = null;
    const plen = t.payloadLen;
    let advance = 0;
    if (plen > 0 && t.seq === this.rcvNxt) {
      this.rec.response = Buffer.concat([this.rec.response, p.buf.subarray(t.payloadOff, t.payloadOff + plen)]);
      advance += plen;
    }
    if (t.flags & 0x01 && ((t.seq + plen) >>> 0) === ((this.rcvNxt + advance) >>> 0)) {
      this.rec.finReceived = true;
      advance += 1;
    }
    if (advance === 0) {
      if (!this.finSent && !this.unacked && this.rec.response.length > 0 && (this.plan.end ?? 'fin') === 'fin') {
        this.sendFin(io);
        return;
      }
      if (this.finSent && t.flags & 0x10 && t.ack === this.sndNxt && this.rec.finReceived) this.rec.closed = true;
      return;
    }
    this.rcvNxt = (this.rcvNxt + advance) >>> 0;
    const end = this.plan.end ?? 'fin';
    if (this.rec.finReceived) {
      this.emit(io, 'A', Buffer.alloc(0), []);
      if (!this.finSent) this.sendFin(io);
      else this.rec.closed = true;
      return;
    }
    if (end === 'rst') {
      this.emit(io, 'R', Buffer.alloc(0), []);
      this.rec.closed = true;
      return;
    }
    if (end === 'fin' && !this.unacked) this.sendFin(io);
    else this.emit(io, 'A', Buffer.alloc(0), []);
  }

  private sendRequest(io: ClientIo, data: Buffer): void {
    this.unacked = data;
    this.unackedSeq = this.sndNxt;
    const extra = this.plan.extraOptions?.(this.ts) ?? [];
    if (this.plan.outOfOrder && data.length >= 2) {
      const half = Math.floor(data.length / 2);
      const firstSeq = this.sndNxt;
      this.sndNxt = (firstSeq + half) >>> 0;
      this.emit(io, 'PA', data.subarray(half), extra, { delay: 1 });
      this.sndNxt = firstSeq;
      this.emit(io, 'A', data.subarray(0, half), extra, { delay: 3 });
      this.sndNxt = (firstSeq + data.length) >>> 0;
      return;
    }
    this.emit(io, 'PA', data, extra, { delay: 1, df: this.plan.requestDf ?? true, fragmentMtu: this.plan.fragmentMtu });
    this.sndNxt = (this.sndNxt + data.length) >>> 0;
  }

  private resendSmaller(io: ClientIo, mtu: number): void {
    const data = this.unacked!;
    const hdr = 40 + (this.ts ? 12 : 0);
    const seg = Math.max(8, mtu - hdr);
    const save = this.sndNxt;
    for (let off = 0; off < data.length; off += seg) {
      this.sndNxt = (this.unackedSeq + off) >>> 0;
      this.emit(io, off + seg >= data.length ? 'PA' : 'A', data.subarray(off, off + seg), [], { delay: 1 });
    }
    this.sndNxt = save;
  }

  private sendFin(io: ClientIo): void {
    this.emit(io, 'FA', Buffer.alloc(0), [], { delay: 1 });
    this.sndNxt = (this.sndNxt + 1) >>> 0;
    this.finSent = true;
  }

  private tsVal(io: ClientIo): number {
    return (this.plan.tsBase + Math.floor(io.nowMs())) >>> 0;
  }

  private emit(
    io: ClientIo,
    flags: string,
    payload: Buffer,
    extra: TcpOption[],
    o: { ttl?: number; delay?: number; df?: boolean; fragmentMtu?: number | undefined } = {},
  ): void {
    const syn = flags.includes('S');
    const opts: TcpOption[] = syn ? extra : [...(this.ts && !flags.includes('R') ? [{ kind: 'nop' } as const, { kind: 'nop' } as const, { kind: 'ts', val: this.tsVal(io), ecr: this.tsEcr } as const] : []), ...extra];
    const df = o.fragmentMtu ? false : (o.df ?? true);
    const frame = PacketBuilder.eth({ src: this.plan.clientMac, dst: this.plan.directorMac })
      .ipv4({ src: this.plan.cip, dst: this.plan.vip, ttl: o.ttl ?? 64, id: this.ipId, df })
      .tcp({ sport: this.plan.cport, dport: this.plan.vport, seq: this.sndNxt, ack: syn ? 0 : this.rcvNxt, flags, options: opts, pad: 'nop' })
      .payload(payload)
      .build();
    this.ipId = (this.ipId + 1) & 0xffff;
    const pieces = o.fragmentMtu ? fragmentIpv4(frame, o.fragmentMtu, { ipOff: 14 }) : [frame];
    for (const piece of pieces) {
      io.send(piece, o.delay ?? 0);
      this.rec.sent++;
    }
  }
}

function ipNum(t: string): number {
  const [a, b, c, d] = t.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
