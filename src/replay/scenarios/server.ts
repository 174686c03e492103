/**
 * Simulated real server for `replay --write`: a minimal TCP responder at RIP (NAT, FullNAT) or
 * at the VIP on a loopback alias (DR, TUN; TUN first strips the IPIP header) that answers SYNs
 * like Linux (MSS 1460, SACK-permitted, TS echo, WS 7 when offered), acknowledges requests with a
 * small HTTP response naming itself, SACKs out-of-order data and closes on FIN. Replies go to the
 * director (NAT, FullNAT) or straight to the client's router (DR, TUN).
 */
import { decodeBytes } from '../../decode/decoder.js';
import { LinkType } from '../../decode/frame.js';
import { ipv4ToString } from '../../decode/addr.js';
import { isSyn } from '../../decode/proto/tcp.js';
import { PacketBuilder, type TcpOption } from '../builder/index.js';
import { dnsAnswer } from './udp-client.js';

export interface ServerConfig {
  name: string;
  rip: string;
  mac: string;
  /** Addresses it accepts TCP for: the RIP, plus the VIP for DR/TUN. */
  addresses: string[];
  /** Where replies go at L2 (director RS-side MAC, or the client-side router). */
  replyMac: string;
  /** Decapsulate IPIP addressed to the RIP (TUN). */
  ipip: boolean;
  seed: number;
  /** Seconds between this server's TCP timestamp ticks (ms resolution). */
}

interface ServerConn {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  isn: number;
  sndNxt: number;
  rcvNxt: number;
  sack: boolean;
  ts: boolean;
  tsEcr: number;
  wsOffered: boolean;
  pending: { seq: number; data: Buffer } | null;
  got: number;
  /** A PSH (end of request) was seen, possibly out of order. */
  pushSeen: boolean;
  responded: boolean;
  finSent: boolean;
  ipId: number;
}

export class SimServer {
  private readonly conns = new Map<string, ServerConn>();
  private counter = 0;
  /** IP ID of the next UDP answer (one counter per server, seeded). */
  private udpIpId = 0;
  /** Frames it received (after the link) and answered, for the RS capture. */
  constructor(readonly cfg: ServerConfig) {
    this.udpIpId = mix(cfg.seed, 0x55) & 0xffff;
  }

  /** One frame in; reply frames out. */
  handle(frame: Buffer, nowMs: number): Buffer[] {
    const p = decodeBytes(frame, LinkType.ETHERNET);
    let n = p.net;
    if (n.ip.version !== 4) return [];
    if (this.cfg.ipip && p.tunnel === 'ipip' && ipv4ToString(n.ip.dst4) === this.cfg.rip) n = p.inner;
    if (n.ip.version !== 4 || (n.l4 !== 'tcp' && n.l4 !== 'udp') || n.ip.isFragment) return [];
    const dst = ipv4ToString(n.ip.dst4);
    if (!this.cfg.addresses.includes(dst)) return [];
    if (n.l4 === 'udp') {
      // UDP scenarios (udp-client.ts): answer a DNS query from the address and port it was sent to.
      const answer = dnsAnswer(Buffer.from(p.buf.subarray(n.udp.payloadOff, n.udp.payloadOff + n.udp.payloadLen)), this.cfg.name);
      if (!answer) return [];
      this.udpIpId = (this.udpIpId + 1) & 0xffff;
      return [
        PacketBuilder.eth({ src: this.cfg.mac, dst: this.cfg.replyMac })
          .ipv4({ src: dst, dst: ipv4ToString(n.ip.src4), ttl: 64, id: this.udpIpId, df: true })
          .udp({ sport: n.udp.dport, dport: n.udp.sport })
          .payload(answer)
          .build(),
      ];
    }
    const t = n.tcp;
    const src = ipv4ToString(n.ip.src4);
    const key = `${src}:${t.sport}:${dst}:${t.dport}`;
    let c = this.conns.get(key);
    if (t.flags & 0x04) {
      this.conns.delete(key);
      return [];
    }
    if (isSyn(t)) {
      if (!c) {
        const isn = mix(this.cfg.seed, ++this.counter);
        c = {
          src,
          sport: t.sport,
          dst,
          dport: t.dport,
          isn,
          sndNxt: isn,
          rcvNxt: (t.seq + 1) >>> 0,
          sack: t.sackPermitted,
          ts: t.tsPresent,
          tsEcr: t.tsVal,
          wsOffered: t.wscale >= 0,
          pending: null,
          got: 0,
          pushSeen: false,
          responded: false,
          finSent: false,
          ipId: mix(this.cfg.seed, this.counter, 7) & 0xffff,
        };
        this.conns.set(key, c);
      }
      const opts: TcpOption[] = [{ kind: 'mss', value: 1460 }];
      if (c.sack && c.ts) opts.push({ kind: 'sackPermitted' }, { kind: 'ts', val: this.tsVal(nowMs), ecr: c.tsEcr });
      else if (c.sack) opts.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' });
      else if (c.ts) opts.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: this.tsVal(nowMs), ecr: c.tsEcr });
      if (c.wsOffered) opts.push({ kind: 'nop' }, { kind: 'ws', shift: 7 });
      return [this.segment(c, 'SA', c.isn, Buffer.alloc(0), opts)];
    }
    if (!c) return [];
    if (t.tsPresent) c.tsEcr = t.tsVal;
    const data = Buffer.from(p.buf.subarray(t.payloadOff, t.payloadOff + t.payloadLen));
    const out: Buffer[] = [];
    if (c.sndNxt === c.isn && t.flags & 0x10 && t.ack === ((c.isn + 1) >>> 0)) c.sndNxt = (c.isn + 1) >>> 0;
    if (data.length > 0) {
      if (t.flags & 0x08) c.pushSeen = true;
      if (t.seq === c.rcvNxt) {
        c.rcvNxt = (c.rcvNxt + data.length) >>> 0;
        c.got += data.length;
        if (c.pending && c.pending.seq === c.rcvNxt) {
          c.rcvNxt = (c.rcvNxt + c.pending.data.length) >>> 0;
          c.got += c.pending.data.length;
          c.pending = null;
        }
      } else if (((t.seq - c.rcvNxt) | 0) > 0) {
        c.pending = { seq: t.seq, data };
        const sack: TcpOption[] = c.sack ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[t.seq, (t.seq + data.length) >>> 0]] }] : [];
        out.push(this.segment(c, 'A', c.sndNxt, Buffer.alloc(0), [...this.tsOpt(c, nowMs), ...sack]));
        return out;
      }
      if (!c.pending && !c.responded && (c.pushSeen || t.flags & 0x01)) {
        const body = `served-by ${this.cfg.name}\n`;
        const resp = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        out.push(this.segment(c, 'PA', c.sndNxt, resp, this.tsOpt(c, nowMs)));
        c.sndNxt = (c.sndNxt + resp.length) >>> 0;
        c.responded = true;
      } else out.push(this.segment(c, 'A', c.sndNxt, Buffer.alloc(0), this.tsOpt(c, nowMs)));
    }
    if (t.flags & 0x01 && ((t.seq + data.length) >>> 0) === c.rcvNxt) {
      c.rcvNxt = (c.rcvNxt + 1) >>> 0;
      out.push(this.segment(c, 'FA', c.sndNxt, Buffer.alloc(0), this.tsOpt(c, nowMs)));
      c.sndNxt = (c.sndNxt + 1) >>> 0;
      c.finSent = true;
    } else if (c.finSent && t.flags & 0x10 && t.ack === c.sndNxt && data.length === 0) {
      this.conns.delete(key);
    }
    return out;
  }

  private tsVal(nowMs: number): number {
    return (mix(this.cfg.seed, 99) + Math.floor(nowMs)) >>> 0;
  }

  private tsOpt(c: ServerConn, nowMs: number): TcpOption[] {
    return c.ts ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: this.tsVal(nowMs), ecr: c.tsEcr }] : [];
  }

  private segment(c: ServerConn, flags: string, seq: number, payload: Buffer, options: TcpOption[]): Buffer {
    const f = PacketBuilder.eth({ src: this.cfg.mac, dst: this.cfg.replyMac })
      .ipv4({ src: c.dst, dst: c.src, ttl: 64, id: c.ipId, df: true })
      .tcp({ sport: c.dport, dport: c.sport, seq, ack: c.rcvNxt, flags, options, window: 65160, pad: 'nop' })
      .payload(payload)
      .build();
    c.ipId = (c.ipId + 1) & 0xffff;
    return f;
  }
}

function mix(...words: number[]): number {
  let h = 0x811c9dc5;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}
