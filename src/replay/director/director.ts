/**
 * ReferenceDirector: a userspace LVS director written from lvs-behavior.md — NAT (§1.3), DR
 * (§1.4), TUN/IPIP (§1.5), FullNAT in the Alibaba (§2.1–2.4) and DPVS (§3.1) flavours — with the
 * mainline schedulers (§1.10), persistence (§1.11), the connection table and timeouts (§1.8) and
 * the director's own ICMP errors (§1.2). It is pure: `handle(frame, nowMs, ingress)` returns the
 * frames to send, so it is usable as a test oracle and, through an adapter, live between NICs.
 *
 * Scope: IPv4, TCP and UDP, Ethernet framing. It shares the builder and decoder with the rest of
 * the project but nothing of the verifier's rules (only the service model for configuration).
 */
import { Decoder } from '../../decode/decoder.js';
import { LinkType, type Frame } from '../../decode/frame.js';
import { IpProto, type Packet } from '../../decode/packet.js';
import { ipv4ToString } from '../../decode/addr.js';
import { fragmentIpv4, recomputeIpv4Checksum, recomputeL4Checksum } from '../builder/index.js';
import type { Service } from '../../verify/service/index.js';
import { ethFrame, ip4, mac, mix32, patchL4, pseudoAddrChange } from './bytes.js';
import { ConnTable, nextTcpState, tcpEvent, type Conn, type Direction } from './conn.js';
import { parseFaults, type FaultSet } from './faults.js';
import { icmpError, tcpRstFor } from './icmp.js';
import { Reassembler } from './reasm.js';
import { makeScheduler, type SchedDest, type Scheduler } from './sched/index.js';
import { addToSeqField, adjustMss, optionRoom, pruneOptions, removeTimestamp, setL4Checksum, shiftSack, tcpLoc } from './tcpopt.js';
import type { DirectorConfig, DirectorEvent, DirectorOutput, DirectorProfile, Side, UoaMode } from './types.js';
import { IPOPT_UOA, OPP_VERSION_V4, OPP_VERSION_V6, UOA_LEN_V4 } from '../../decode/proto/uoa.js';

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const TCP = 6;
const UDP = 17;
const ICMP = 1;
/** DPVS's UOA shim protocol (`IPPROTO_OPT`, §3.3). */
const IPPROTO_OPT = IpProto.UOA_SHIM;
/** FullNAT local ports: sequential from 5000 to 65535 (ALI lport_min/max, §2.1), 10000 tries. */
export const LPORT_MIN = 5000;
export const LPORT_MAX = 65535;
const LPORT_TRIES = 10000;
/** TOA length for an IPv4 client (§2.3): the MSS the client sees shrinks by it (§2.4). */
const TOA_LEN_V4 = 8;
const TUN_OVERHEAD = 20;
/** DPVS `UOA_DEF_MAX_TRAIL` (§3.3). */
const UOA_MAX_TRAIL = 3;
/** IPv4 header with every option (MAX_IPOPTLEN 40): where an `ipo` UOA no longer fits. */
const IPV4_MAX_HDR = 60;

interface SvcState {
  svc: Service;
  vip: number;
  dests: SchedDest[];
  rips: number[];
  sched: Scheduler;
  lips: number[];
  lipNext: number;
  method: 'nat' | 'dr' | 'tun' | 'fullnat';
  /** Persistence netmask as uint32 (0xffffffff = host). */
  mask: number;
}

export class ReferenceDirector {
  readonly profile: DirectorProfile;
  readonly faults: FaultSet;
  readonly conns = new ConnTable();
  readonly mtu: number;
  readonly uoaMode: UoaMode;
  readonly uoaMaxTrail: number;
  /** What happened to each input (bounded by the caller through `drainEvents`). */
  readonly events: DirectorEvent[] = [];

  private readonly svcs: SvcState[] = [];
  private readonly dirMac: Buffer;
  private readonly dirRsMac: Buffer;
  private readonly gatewayMac: Buffer | null;
  private readonly rsMacs = new Map<number, Buffer>();
  private readonly dip: number;
  private readonly ownRsIps = new Set<number>();
  private readonly vips = new Set<number>();
  private readonly lportNext = new Map<number, number>();
  private readonly seed: number;
  private readonly decoder = new Decoder({ checksums: false });
  private readonly frame: Frame = {
    capture: 'director',
    frame: 0,
    buf: Buffer.alloc(0),
    off: 0,
    caplen: 0,
    len: 0,
    tsSec: 0,
    tsNsec: 0,
    linkType: LinkType.ETHERNET,
    interfaceId: 0,
    direction: null,
    comment: null,
    fileOffset: 0,
  };
  private readonly reasm = new Reassembler();
  private ipId: number;
  private forwarded = 0;
  private lastClientMac: Buffer | null = null;

  constructor(cfg: DirectorConfig) {
    this.profile = cfg.profile;
    this.faults = parseFaults(cfg.faults);
    this.mtu = cfg.mtu ?? 1500;
    this.uoaMode = cfg.profile === 'dpvs' ? (cfg.uoaMode ?? 'opp') : 'off';
    this.uoaMaxTrail = cfg.uoaMaxTrail ?? UOA_MAX_TRAIL;
    this.seed = (cfg.seed ?? 1) >>> 0;
    this.ipId = mix32(this.seed, 0x1d) & 0xffff;
    this.dirMac = mac(cfg.macs.director);
    this.dirRsMac = mac(cfg.macs.directorRs ?? cfg.macs.director);
    this.gatewayMac = cfg.macs.gateway ? mac(cfg.macs.gateway) : null;
    for (const [rip, m] of Object.entries(cfg.macs.realServers)) this.rsMacs.set(ip4(rip), mac(m));
    this.dip = ip4(cfg.directorIps.dip);
    this.ownRsIps.add(this.dip);
    const allowWeight0 = this.faults.has('schedule-weight0');
    for (const svc of cfg.services.services) {
      if (svc.fwmark !== undefined || svc.family !== 4 || svc.protocol === 'sctp') continue;
      const method = svc.method ?? svc.realServers[0]?.method ?? 'nat';
      const dests: SchedDest[] = svc.realServers.map((r, index) => ({ index, ip: r.ip, port: r.port, weight: r.weight, active: 0, inactive: 0 }));
      const lipText = svc.localAddresses.length ? svc.localAddresses : (cfg.directorIps.lips ?? []);
      const lips = lipText.map(ip4);
      for (const l of lips) this.ownRsIps.add(l);
      const vip = ip4(svc.vip);
      this.vips.add(vip);
      this.svcs.push({
        svc,
        vip,
        dests,
        rips: svc.realServers.map((r) => ip4(r.ip)),
        sched: makeScheduler(svc.scheduler, dests, { allowWeight0, flags: svc.schedFlags }),
        lips: lips.length ? lips : [this.dip],
        lipNext: 0,
        method,
        mask: svc.persistenceMask ? ip4(svc.persistenceMask) : 0xffffffff,
      });
    }
  }

  /**
   * Changes a real server's weight at run time (ipvsadm -e): 0 quiesces it — no new connections,
   * existing ones and persistence templates keep going (§1.10). Table schedulers are rebuilt.
   */
  setWeight(vip: string, vport: number, rip: string, weight: number): boolean {
    for (const s of this.svcs) {
      if (s.svc.vip !== vip || s.svc.vport !== vport) continue;
      const d = s.dests.find((x) => x.ip === rip);
      if (!d) return false;
      d.weight = weight;
      s.sched = makeScheduler(s.svc.scheduler, s.dests, { allowWeight0: this.faults.has('schedule-weight0'), flags: s.svc.schedFlags });
      return true;
    }
    return false;
  }

  /** Hands over and forgets the events recorded so far. */
  drainEvents(): DirectorEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Per real server: active / inactive connection counters (ipvsadm -Ln columns). */
  counters(): { rip: string; port: number; weight: number; active: number; inactive: number }[] {
    return this.svcs.flatMap((s) => s.dests.map((d) => ({ rip: d.ip, port: d.port, weight: d.weight, active: d.active, inactive: d.inactive })));
  }

  /** One Ethernet frame in; the frames to send out. Never throws on bad bytes. */
  handle(frameBytes: Buffer, nowMs: number, ingress: Side): DirectorOutput[] {
    const f = this.frame;
    f.buf = frameBytes;
    f.caplen = f.len = frameBytes.length;
    const p = this.decoder.decode(f);
    try {
      if (p.arp.present) return this.arp(p, frameBytes, nowMs, ingress);
      if (p.net.ip.version !== 4 || !p.eth.present) return this.log(ingress, nowMs, 'drop', 'not IPv4 over Ethernet');
      const ipOff = p.net.ip.off;
      const tot = Math.min(p.net.ip.totalLen, frameBytes.length - ipOff);
      if (tot < 20 || p.net.ip.checksumOk === false || !ipv4HeaderOk(frameBytes, ipOff)) return this.log(ingress, nowMs, 'drop', 'bad IPv4 header (the kernel drops it before IPVS)');
      let ip: Buffer = Buffer.from(frameBytes.subarray(ipOff, ipOff + tot));
      const srcMac = Buffer.from(frameBytes.subarray(p.eth.srcOff, p.eth.srcOff + 6));
      if (p.net.ip.isFragment) {
        if (!this.vips.has(ip.readUInt32BE(16)) && !this.ownRsIps.has(ip.readUInt32BE(16))) return this.log(ingress, nowMs, 'drop', 'fragment not for a director address');
        const whole = this.reasm.push(ip, nowMs);
        if (!whole) return this.log(ingress, nowMs, 'hold', 'fragment kept for reassembly');
        ip = whole;
      }
      return ingress === 'client' ? this.fromClient(ip, srcMac, nowMs) : this.fromRs(ip, nowMs);
    } catch (e) {
      return this.log(ingress, nowMs, 'drop', `internal: ${(e as Error).message}`);
    }
  }

  // ------------------------------------------------------------------------------------- ARP

  private arp(p: Packet, b: Buffer, nowMs: number, ingress: Side): DirectorOutput[] {
    const a = p.arp;
    if (!a.isEthIpv4 || a.op !== 1) return this.log(ingress, nowMs, 'drop', 'ARP not a request');
    const target = a.tpa >>> 0;
    const ours = ingress === 'client' ? this.vips.has(target) : this.ownRsIps.has(target);
    if (!ours || a.gratuitous) return this.log(ingress, nowMs, 'drop', `ARP who-has ${ipv4ToString(target)}: not ours`);
    const myMac = ingress === 'client' ? this.dirMac : this.dirRsMac;
    const body = Buffer.alloc(28);
    body.writeUInt16BE(1, 0);
    body.writeUInt16BE(ETH_IPV4, 2);
    body[4] = 6;
    body[5] = 4;
    body.writeUInt16BE(2, 6);
    myMac.copy(body, 8);
    body.writeUInt32BE(target, 14);
    b.copy(body, 18, a.shaOff, a.shaOff + 6);
    b.copy(body, 24, a.spaOff, a.spaOff + 4);
    const frame = ethFrame(Buffer.from(b.subarray(a.shaOff, a.shaOff + 6)), myMac, ETH_ARP, body);
    // Ethernet minimum frame: 60 bytes before the FCS.
    const padded = frame.length < 60 ? Buffer.concat([frame, Buffer.alloc(60 - frame.length)]) : frame;
    this.log(ingress, nowMs, 'arp', `is-at for ${ipv4ToString(target)}`);
    return [{ side: ingress, frame: padded, note: `arp reply ${ipv4ToString(target)} is-at ${fmtMac(myMac)}` }];
  }

  // -------------------------------------------------------------------------- client → RS

  private fromClient(ip: Buffer, srcMac: Buffer, nowMs: number): DirectorOutput[] {
    const proto = ip[9]!;
    const dst = ip.readUInt32BE(16);
    const src = ip.readUInt32BE(12);
    if (!this.vips.has(dst)) return this.log('client', nowMs, 'drop', `dst ${ipv4ToString(dst)} is not a VIP`);
    this.lastClientMac = srcMac;
    if (proto === ICMP) return this.icmpFromClient(ip, srcMac, nowMs);
    if (proto !== TCP && proto !== UDP) return this.log('client', nowMs, 'drop', `protocol ${proto}`);
    const ihl = (ip[0]! & 15) * 4;
    if (ip.length < ihl + (proto === TCP ? 20 : 8)) return this.log('client', nowMs, 'drop', 'short L4 header');
    const sport = ip.readUInt16BE(ihl);
    const dport = ip.readUInt16BE(ihl + 2);
    const flags = proto === TCP ? ip[ihl + 13]! : 0;
    const s = this.findSvc(dst, dport, proto);
    if (!s) return this.log('client', nowMs, 'drop', `no service ${ipv4ToString(dst)}:${dport}`);

    let c = this.conns.findFromClient(proto, src, sport, dst, dport, nowMs);
    const syn = (flags & 0x12) === 0x02;
    // conn_reuse_mode 1 (§1.7): a new SYN on a TIME_WAIT/CLOSE entry not under persistence → expire, reschedule.
    if (c && proto === TCP && syn && (c.state === 'TIME_WAIT' || c.state === 'CLOSE') && !c.template) {
      this.conns.remove(c);
      c = undefined;
    }
    if (!c) {
      if (proto === TCP && (!syn || flags & 0x04)) return this.unknownTcp(ip, nowMs, src, dst);
      const made = this.schedule(s, ip, src, sport, dst, dport, proto, srcMac, nowMs);
      if ('out' in made) return made.out;
      c = made.conn;
    }
    c.clientMac = srcMac;
    if (proto === TCP) {
      const ev = tcpEvent(flags);
      const dir: Direction = s.method === 'dr' || s.method === 'tun' ? 'input-only' : 'input';
      if (ev) this.conns.setState(c, nextTcpState(c.state, ev, dir), nowMs);
    } else this.conns.touchUdp(c, nowMs);
    return this.xmit(s, c, ip, nowMs);
  }

  /**
   * ICMP from the client side (§1.6): errors (3, 4, 11) about a connection are forwarded to its
   * real server — NAT rewrites the outer dst, the quoted src and source port, and recomputes the
   * outer, quoted-IP and ICMP checksums (the quoted L4 checksum is left alone); DR/TUN send it
   * with the connection's transmitter unchanged. Echo requests are answered by the director.
   */
  private icmpFromClient(ip: Buffer, srcMac: Buffer, nowMs: number): DirectorOutput[] {
    const ihl = (ip[0]! & 15) * 4;
    if (ip.length < ihl + 8) return this.log('client', nowMs, 'drop', 'short ICMP');
    const type = ip[ihl]!;
    if (type === 8) {
      const reply = Buffer.from(ip);
      reply.writeUInt32BE(ip.readUInt32BE(16), 12);
      reply.writeUInt32BE(ip.readUInt32BE(12), 16);
      reply[8] = 64;
      reply.writeUInt16BE(this.nextId(), 4);
      reply[ihl] = 0;
      recomputeIpv4Checksum(reply, 0);
      recomputeL4Checksum(reply, 0);
      this.log('client', nowMs, 'local', 'echo request to the VIP answered by the director stack (§1.6)');
      return [this.toClient(reply, srcMac, 'echo reply from the director')];
    }
    if (type !== 3 && type !== 4 && type !== 11) return this.log('client', nowMs, 'local', `ICMP type ${type} to the VIP: director stack`);
    const q = ihl + 8;
    if (ip.length < q + 20 || ip[q]! >> 4 !== 4) return this.log('client', nowMs, 'drop', 'ICMP error without an IPv4 quote');
    const qihl = (ip[q]! & 15) * 4;
    const qproto = ip[q + 9]!;
    if ((qproto !== TCP && qproto !== UDP) || ip.length < q + qihl + 4) return this.log('client', nowMs, 'local', 'ICMP error not about TCP/UDP');
    // The quoted packet went director→client: src VIP:vport, dst CIP:cport.
    const c = this.conns.findFromClient(qproto, ip.readUInt32BE(q + 16), ip.readUInt16BE(q + qihl + 2), ip.readUInt32BE(q + 12), ip.readUInt16BE(q + qihl), nowMs);
    if (!c) return this.log('client', nowMs, 'local', 'ICMP error about no connection: accepted locally');
    const s = this.svcs[c.svc]!;
    if (s.method === 'fullnat') return this.log('client', nowMs, 'drop', 'ICMP error for a FullNAT connection: not modelled');
    if (this.decrementsTtl(s.method)) {
      if (ip[8]! <= 1) return this.log('client', nowMs, 'drop', 'ICMP error with TTL ≤ 1');
      ip[8] = ip[8]! - 1;
    }
    const rsMac = this.rsMacs.get(c.rip);
    if (!rsMac) return this.log('client', nowMs, 'drop', 'no MAC for the real server');
    let out = ip;
    if (s.method === 'nat') {
      ip.writeUInt32BE(c.rip, 16);
      ip.writeUInt32BE(c.rip, q + 12);
      ip.writeUInt16BE(c.rport, q + qihl);
      recomputeIpv4Checksum(ip, q);
      ip.writeUInt16BE(0, ihl + 2);
      let sum = 0;
      for (let i = ihl; i < ip.length; i += 2) sum += (ip[i]! << 8) | (ip[i + 1] ?? 0);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      ip.writeUInt16BE(~sum & 0xffff, ihl + 2);
    }
    recomputeIpv4Checksum(ip, 0);
    if (s.method === 'tun') out = this.tunnel(ip, c.rip);
    this.log('client', nowMs, 'forward', `ICMP ${type} about a connection → ${ipv4ToString(c.rip)} (§1.6)`);
    return [{ side: 'rs', frame: ethFrame(rsMac, this.dirRsMac, ETH_IPV4, out), rip: ipv4ToString(c.rip), note: `icmp ${type} forwarded (${s.method})` }];
  }

  private findSvc(vip: number, port: number, proto: number): SvcState | undefined {
    const p = proto === TCP ? 'tcp' : 'udp';
    let wild: SvcState | undefined;
    for (const s of this.svcs) {
      if (s.vip !== vip || s.svc.protocol !== p) continue;
      if (s.svc.vport === port) return s;
      if (s.svc.vport === 0) wild ??= s;
    }
    return wild;
  }

  /** A TCP packet that is no SYN and matches no connection (§1.7, §2.6, §3.1). */
  private unknownTcp(ip: Buffer, nowMs: number, src: number, dst: number): DirectorOutput[] {
    const rst = (ip[(ip[0]! & 15) * 4 + 13]! & 0x04) !== 0;
    if (this.profile === 'alibaba') return this.log('client', nowMs, 'drop', 'no connection: dropped (ALI tcp_drop_entry=1, §2.6)');
    if (this.profile === 'dpvs') return this.log('client', nowMs, 'drop', 'no connection: not scheduled (DPVS, §3.1)');
    if (rst) return this.log('client', nowMs, 'local', 'RST without connection: accepted locally, nothing sent');
    // Mainline: NF_ACCEPT to the director's own stack; the VIP has no listener there → RST from the VIP (INFERRED, §1.7).
    const out = tcpRstFor(ip, dst, src);
    this.log('client', nowMs, 'local', 'no connection: director stack answers RST (§1.7, inferred)');
    return [this.toClient(out, this.lastClientMac, 'rst from director stack (no connection)')];
  }

  private schedule(
    s: SvcState,
    ip: Buffer,
    cip: number,
    cport: number,
    vip: number,
    vport: number,
    proto: number,
    srcMac: Buffer,
    nowMs: number,
  ): { conn: Conn } | { out: DirectorOutput[] } {
    const key = { srcIp: cip, dstIp: vip, srcPort: cport };
    let dest: SchedDest | null = null;
    let template = null;
    const persistent = s.svc.persistenceTimeout !== null && !this.faults.has('break-persistence');
    if (persistent) {
      const tport = s.svc.vport === 21 || s.svc.vport === 0 ? 0 : vport;
      const tkey = `${proto}:${(cip & s.mask) >>> 0}:${vip}:${tport}`;
      template = this.conns.getTemplate(tkey, nowMs) ?? null;
      if (template) {
        // Templates to a quiesced server are still honoured (expire_quiescent_template=0, §1.10).
        dest = template.dest;
        template.expiresMs = nowMs + template.timeoutS * 1000;
      } else {
        dest = s.sched.pick(key);
        if (dest) template = this.conns.addTemplate(tkey, dest, s.svc.persistenceTimeout!, nowMs);
      }
    } else dest = s.sched.pick(key);
    if (!dest) {
      // ip_vs_leave: ICMP port unreachable for TCP and UDP alike (§1.7).
      const icmp = icmpError(ip, 3, 3, vip, cip, this.nextId());
      this.log('client', nowMs, 'icmp', 'no destination available: ICMP port unreachable (§1.7)');
      return { out: [this.toClient(icmp, srcMac, 'icmp port-unreachable (no destination)')] };
    }
    const rip = s.rips[dest.index]!;
    let rport = dest.port === 0 ? vport : dest.port;
    if (this.faults.has('nat-wrong-port') && (s.method === 'nat' || s.method === 'fullnat')) rport = vport;
    let lip = 0;
    let lport = 0;
    let seqDelta = 0;
    if (s.method === 'fullnat') {
      lip = s.lips[s.lipNext++ % s.lips.length]!;
      lport = this.allocLport(proto, rip, rport, lip);
      if (lport < 0) return { out: this.log('client', nowMs, 'drop', 'FullNAT: no free local port') };
      if (proto === TCP) {
        const isn = mix32(this.seed, lip, rip, (lport << 16) | rport);
        seqDelta = (isn - ip.readUInt32BE((ip[0]! & 15) * 4 + 4)) >>> 0;
      }
    }
    const conn = this.conns.add(
      { proto, cip, cport, vip, vport, dest, rip, rport, lip, lport, svc: this.svcs.indexOf(s), clientMac: srcMac, seqDelta, fdataSeq: null, template, uoaSent: 0 },
      nowMs,
    );
    this.log('client', nowMs, 'schedule', `${s.svc.scheduler} → ${dest.ip}:${rport}${lip ? ` via ${ipv4ToString(lip)}:${lport}` : ''}`);
    return { conn };
  }

  private allocLport(proto: number, rip: number, rport: number, lip: number): number {
    if (this.faults.has('lport-reuse')) return LPORT_MIN;
    const span = LPORT_MAX - LPORT_MIN + 1;
    let counter = this.lportNext.get(lip) ?? 0;
    for (let t = 0; t < LPORT_TRIES; t++) {
      const port = LPORT_MIN + (counter++ % span);
      if (!this.conns.rsKeyInUse(proto, rip, rport, lip, port)) {
        this.lportNext.set(lip, counter);
        return port;
      }
    }
    this.lportNext.set(lip, counter);
    return -1;
  }

  /** Decrement the client→RS TTL? linux: NAT/DR/TUN yes (§1.2); legacy, alibaba, dpvs: no (R2). */
  private decrementsTtl(method: SvcState['method']): boolean {
    if (method === 'fullnat') return this.faults.has('ttl-decrement-fullnat');
    return this.profile === 'linux' && !this.faults.has('no-ttl-decrement');
  }

  private xmit(s: SvcState, c: Conn, ip: Buffer, nowMs: number): DirectorOutput[] {
    const ttl = ip[8]!;
    if (this.decrementsTtl(s.method)) {
      if (ttl <= 1 && !this.faults.has('ttl-not-checked')) {
        this.log('client', nowMs, 'icmp', `TTL ${ttl}: ICMP time exceeded (§1.2)`);
        return [this.toClient(icmpError(ip, 11, 0, c.vip, c.cip, this.nextId()), c.clientMac, 'icmp time-exceeded')];
      }
      ip[8] = Math.max(0, ttl - 1);
      recomputeIpv4Checksum(ip, 0);
    }
    const df = (ip.readUInt16BE(6) & 0x4000) !== 0;
    const mtu = s.method === 'tun' ? this.mtu - TUN_OVERHEAD : this.mtu;
    if (df && ip.length > mtu && !this.faults.has('no-frag-needed')) {
      this.log('client', nowMs, 'icmp', `DF and ${ip.length} > ${mtu}: ICMP frag-needed (§1.2)`);
      return [this.toClient(icmpError(ip, 3, 4, c.vip, c.cip, this.nextId(), mtu), c.clientMac, `icmp frag-needed mtu ${mtu}`)];
    }
    const nth = this.faults.arg('drop-every-nth', 3);
    if (this.faults.has('drop-every-nth') && ++this.forwarded % nth === 0) return this.log('client', nowMs, 'drop', `fault drop-every-nth=${nth}`);

    let out: Buffer;
    let note: string;
    let rsMac = this.rsMacs.get(c.rip);
    /** Datagrams sent ahead of this one (DPVS's stand-alone UOA, §3.3). */
    const ahead: Buffer[] = [];
    switch (s.method) {
      case 'nat':
        out = this.natIn(c, ip);
        note = `nat → ${ipv4ToString(c.rip)}:${c.rport}`;
        break;
      case 'dr':
        out = ip;
        note = `dr → ${ipv4ToString(c.rip)}`;
        if (this.faults.has('dr-wrong-mac')) {
          const other = s.rips.find((r) => r !== c.rip);
          if (other !== undefined) rsMac = this.rsMacs.get(other);
        }
        break;
      case 'tun':
        out = this.tunnel(ip, c.rip);
        note = `tun ipip → ${ipv4ToString(c.rip)}`;
        break;
      case 'fullnat':
        out = this.fnatIn(c, ip, mtu, nowMs, ahead);
        note = `fullnat ${ipv4ToString(c.lip)}:${c.lport} → ${ipv4ToString(c.rip)}:${c.rport}`;
        break;
    }
    this.applyIpFaults(out, s.method === 'tun');
    if (!rsMac) return this.log('client', nowMs, 'drop', `no MAC for real server ${ipv4ToString(c.rip)}`);
    // Non-DF packets bigger than the route MTU are fragmented after translation (ignore_df, §1.2 step 6).
    const pieces = out.length > this.mtu && !(out.readUInt16BE(6) & 0x4000) ? fragmentIpv4(out, this.mtu) : [out];
    this.log('client', nowMs, 'forward', note);
    if (ahead.length > 0) pieces.unshift(...ahead);
    return pieces.map((piece) => ({ side: 'rs' as const, frame: ethFrame(rsMac!, this.dirRsMac, ETH_IPV4, piece), rip: ipv4ToString(c.rip), note }));
  }

  /** NAT DNAT (§1.3): dst VIP→RIP, dport vport→rport, L4 checksum incremental; UDP zero checksum → computed. */
  private natIn(c: Conn, ip: Buffer): Buffer {
    const ihl = (ip[0]! & 15) * 4;
    const proto = ip[9]!;
    const csum = ihl + (proto === TCP ? 16 : 6);
    const udpZero = proto === UDP && ip.readUInt16BE(csum) === 0;
    ip.writeUInt32BE(c.rip, 16);
    if (udpZero) {
      // IPv4 UDP without checksum: mainline takes the full-recompute branch, so it gets one (§1.3).
      ip.writeUInt16BE(c.rport, ihl + 2);
      setL4Checksum(ip);
    } else {
      pseudoAddrChange(ip, csum, c.vip, c.rip);
      patchL4(ip, ihl, csum, ihl + 2, ihl + 4, () => ip.writeUInt16BE(c.rport, ihl + 2));
    }
    recomputeIpv4Checksum(ip, 0);
    return ip;
  }

  /** IPIP encapsulation (§1.5): outer src DIP, dst RIP, TTL = inner TTL, DF copied, ID 0 with DF, ECN-aware TOS. */
  private tunnel(inner: Buffer, rip: number): Buffer {
    const outer = Buffer.alloc(20);
    const df = (inner.readUInt16BE(6) & 0x4000) !== 0 && !this.faults.has('tun-df-not-copied');
    outer[0] = 0x45;
    const tos = inner[1]!;
    // INET_ECN_encapsulate: DSCP copied; inner CE becomes ECT(0) outside, other ECN values copied.
    outer[1] = (tos & 0xfc) | ((tos & 3) === 3 ? 2 : tos & 3);
    outer.writeUInt16BE(20 + inner.length, 2);
    outer.writeUInt16BE(df ? 0 : this.nextId(), 4);
    outer.writeUInt16BE(df ? 0x4000 : 0, 6);
    outer[8] = this.faults.has('tun-outer-ttl') ? 64 : inner[8]!;
    outer[9] = 4;
    outer.writeUInt32BE(this.dip, 12);
    outer.writeUInt32BE(rip, 16);
    const pkt = Buffer.concat([outer, inner]);
    recomputeIpv4Checksum(pkt, 0);
    return pkt;
  }

  /** FullNAT client→RS (§2.1–2.3, §3.1). */
  private fnatIn(c: Conn, ip: Buffer, mtu: number, nowMs: number, ahead: Buffer[]): Buffer {
    const proto = ip[9]!;
    if (proto === UDP) ip = this.maybeUoa(c, ip, mtu, nowMs, ahead);
    if (proto === TCP) {
      const flags = ip[tcpLoc(ip).l4 + 13]!;
      const syn = (flags & 0x02) !== 0 && (flags & 0x10) === 0;
      if (syn && !this.faults.has('ts-not-removed')) removeTimestamp(ip);
      ip = this.maybeToa(c, ip, flags, mtu, nowMs);
      if (this.faults.has('seq-drift') && !syn) c.seqDelta = (c.seqDelta + 1) >>> 0;
      addToSeqField(ip, 4, c.seqDelta);
    }
    this.fnatRewrite(ip, c.lip, c.lport, c.rip, c.rport);
    return ip;
  }

  /** TOA insertion per profile (§2.2/2.3 alibaba, §3.1 dpvs); returns the (possibly new) packet. */
  private maybeToa(c: Conn, ip: Buffer, flags: number, mtu: number, nowMs: number): Buffer {
    if (this.faults.has('toa-missing')) return ip;
    const syn = (flags & 0x02) !== 0;
    const rst = (flags & 0x04) !== 0;
    const fin = (flags & 0x01) !== 0;
    const ack = ip.readUInt32BE(tcpLoc(ip).l4 + 8);
    const ackMatches = (flags & 0x10) !== 0 && c.fdataSeq !== null && ack === c.fdataSeq;
    let want: boolean;
    if (this.profile === 'alibaba') want = (syn && !(flags & 0x10)) || (!syn && !rst && !fin && ackMatches);
    else want = (!syn && !rst && ackMatches) || (syn && this.faults.has('toa-in-syn'));
    if (!want) return ip;
    if (ip.length > mtu - TOA_LEN_V4) {
      this.log('client', nowMs, 'toa', `no TOA: ${ip.length} + 8 > MTU ${mtu} (§2.3 FAIL_LEN)`);
      return ip;
    }
    if (optionRoom(ip) < TOA_LEN_V4) {
      if (this.profile === 'alibaba') {
        this.log('client', nowMs, 'toa', 'no TOA: options already > 32 bytes (§2.3 HEAD_FULL)');
        return ip;
      }
      const pruned = pruneOptions(ip, TOA_LEN_V4);
      if (!pruned || optionRoom(pruned) < TOA_LEN_V4) {
        this.log('client', nowMs, 'toa', 'no TOA: no TCP header room after pruning (§3.1)');
        return ip;
      }
      this.log('client', nowMs, 'toa', `options pruned to ${40 - optionRoom(pruned)} bytes for TOA (§3.1)`);
      ip = pruned;
    }
    const toa = Buffer.alloc(TOA_LEN_V4);
    toa[0] = 254;
    toa[1] = this.faults.has('toa-bad-len') ? 10 : TOA_LEN_V4;
    toa.writeUInt16BE(this.faults.has('toa-wrong-port') ? (c.cport + 1) & 0xffff : c.cport, 2);
    toa.writeUInt32BE(this.faults.has('toa-wrong-addr') ? c.lip : c.cip, 4);
    const { l4, hdrLen } = tcpLoc(ip);
    const tot = ip.readUInt16BE(2);
    const at = this.faults.has('toa-not-first') ? l4 + hdrLen : l4 + 20;
    const out = Buffer.concat([ip.subarray(0, at), toa, ip.subarray(at, tot)]);
    out[l4 + 12] = (((hdrLen + TOA_LEN_V4) / 4) << 4) | (out[l4 + 12]! & 0x0f);
    out.writeUInt16BE(out.length, 2);
    recomputeIpv4Checksum(out, 0);
    // ALI/DPVS recompute the TCP checksum over the grown segment (pseudo-header still CIP → VIP).
    recomputeL4Checksum(out, 0);
    return out;
  }

  /**
   * DPVS UOA (§3.3; `udp_insert_uoa`): on the first `uoa_max_trail` datagrams of a FullNAT UDP
   * connection, before translation, so the option names the client's own source address and
   * port. `ipo` grows the IPv4 header by the 8-byte option, placed first (ihl + 2, tot_len + 8); `opp` puts
   * the shim {version 1, protocol 17, length 12} and the option between the IP header and the
   * UDP header and makes the IP protocol 248. Where the option does not fit (ipo: the header
   * would pass 60 bytes; either: the datagram would pass the route MTU) an empty UDP datagram
   * carrying only the UOA goes ahead of the original, which is sent without it; it counts as one
   * of the trail. The IP checksum is redone by the rewrite; the UDP one too (`fnatRewrite`).
   */
  private maybeUoa(c: Conn, ip: Buffer, mtu: number, nowMs: number, ahead: Buffer[]): Buffer {
    if (this.uoaMode === 'off' || this.faults.has('uoa-missing')) return ip;
    if (c.uoaSent >= this.uoaMaxTrail && !this.faults.has('uoa-every-datagram')) return ip;
    c.uoaSent++;
    const opt = Buffer.alloc(UOA_LEN_V4);
    opt[0] = IPOPT_UOA;
    opt[1] = UOA_LEN_V4;
    opt.writeUInt16BE(this.faults.has('uoa-wrong-port') ? (c.cport + 1) & 0xffff : c.cport, 2);
    opt.writeUInt32BE(this.faults.has('uoa-wrong-addr') ? c.lip : c.cip, 4);
    const ihl = (ip[0]! & 15) * 4;
    const tot = ip.readUInt16BE(2);
    const shim = this.uoaMode === 'opp' ? this.uoaShim(opt.length) : null;
    const grow = (shim?.length ?? 0) + opt.length;
    const fits = ip.length + grow <= mtu && (shim !== null || ihl + grow <= IPV4_MAX_HDR);
    if (!fits) {
      this.log('client', nowMs, 'uoa', `no room for UOA (${ip.length} + ${grow} bytes): stand-alone UOA datagram sent ahead (§3.3)`);
      ahead.push(this.standaloneUoa(c, ip, opt, shim));
      return ip;
    }
    let out: Buffer;
    if (shim === null) {
      // insert_ipopt_uoa moves only the 20-byte fixed header: the UOA becomes the first option.
      out = Buffer.concat([ip.subarray(0, 20), opt, ip.subarray(20, tot)]);
      out[0] = 0x40 | ((ihl + grow) / 4);
    } else {
      out = Buffer.concat([ip.subarray(0, ihl), shim, opt, ip.subarray(ihl, tot)]);
      out[9] = IPPROTO_OPT;
    }
    out.writeUInt16BE(tot + grow, 2);
    return out;
  }

  /** The `opp` shim header for an option of `optLen` bytes (`struct opphdr`). */
  private uoaShim(optLen: number): Buffer {
    const shim = Buffer.alloc(4);
    shim[0] = (this.faults.has('uoa-shim-version') ? OPP_VERSION_V6 : OPP_VERSION_V4) << 4;
    shim[1] = UDP;
    shim.writeUInt16BE(4 + optLen, 2);
    return shim;
  }

  /**
   * `send_standalone_uoa`: LIP:lport → RIP:rport, TOS and TTL of the original, a new IP ID,
   * fragment field 0, no other IP option; UDP length 8 and checksum 0 (IPv4). Already translated
   * (it is built after the connection's addresses), so it bypasses the rewrite.
   */
  private standaloneUoa(c: Conn, orig: Buffer, opt: Buffer, shim: Buffer | null): Buffer {
    const ihl = 20 + (shim === null ? opt.length : 0);
    const l4 = ihl + (shim === null ? 0 : shim.length + opt.length);
    const b = Buffer.alloc(l4 + 8);
    b[0] = 0x40 | (ihl / 4);
    b[1] = orig[1]!;
    b.writeUInt16BE(b.length, 2);
    b.writeUInt16BE(this.nextId(), 4);
    b[8] = orig[8]!;
    b[9] = shim === null ? UDP : IPPROTO_OPT;
    b.writeUInt32BE(c.lip, 12);
    b.writeUInt32BE(c.rip, 16);
    if (shim === null) opt.copy(b, 20);
    else {
      shim.copy(b, 20);
      opt.copy(b, 20 + shim.length);
    }
    b.writeUInt16BE(c.lport, l4);
    b.writeUInt16BE(c.rport, l4 + 2);
    b.writeUInt16BE(8, l4 + 4);
    recomputeIpv4Checksum(b, 0);
    return b;
  }

  private applyIpFaults(ip: Buffer, tunnelled: boolean): void {
    const inner = tunnelled ? 20 : 0;
    let touched = false;
    if (this.faults.has('ipid-rewrite')) {
      ip.writeUInt16BE(ip.readUInt16BE(inner + 4) ^ 0x5a5a, inner + 4);
      touched = true;
    }
    if (this.faults.has('tos-rewrite')) {
      ip[inner + 1] = ip[inner + 1]! ^ 0x10;
      touched = true;
    }
    if (touched) recomputeIpv4Checksum(ip, inner);
    if (this.faults.has('bad-l4-checksum')) {
      const ihl = (ip[inner]! & 15) * 4;
      const proto = ip[inner + 9]!;
      const at = inner + ihl + (proto === TCP ? 16 : proto === UDP ? 6 : 2);
      if (at + 2 <= ip.length) ip.writeUInt16BE(ip.readUInt16BE(at) ^ 0x0101, at);
    }
    if (this.faults.has('bad-ip-checksum')) ip.writeUInt16BE(ip.readUInt16BE(10) ^ 0x0101, 10);
  }

  // -------------------------------------------------------------------------- RS → client

  private fromRs(ip: Buffer, nowMs: number): DirectorOutput[] {
    const proto = ip[9]!;
    if (proto !== TCP && proto !== UDP) return this.log('rs', nowMs, 'drop', `protocol ${proto} from the RS side`);
    const ihl = (ip[0]! & 15) * 4;
    const src = ip.readUInt32BE(12);
    const dst = ip.readUInt32BE(16);
    const sport = ip.readUInt16BE(ihl);
    const dport = ip.readUInt16BE(ihl + 2);
    const c = this.conns.findFromRs(proto, src, sport, dst, dport, nowMs);
    if (!c) {
      if (this.ownRsIps.has(dst)) return this.log('rs', nowMs, 'drop', 'to a local address, no connection');
      // NAT reply without a connection: routed unmodified (nat_icmp_send=0, §1.7), TTL −1 by forwarding.
      if (ip[8]! <= 1) return this.log('rs', nowMs, 'drop', 'routed packet with TTL ≤ 1');
      ip[8] = ip[8]! - 1;
      recomputeIpv4Checksum(ip, 0);
      this.log('rs', nowMs, 'forward', 'no connection: routed unmodified (§1.7)');
      return [this.toClient(ip, this.gatewayMac ?? this.lastClientMac, 'routed without connection (src stays RIP)')];
    }
    const s = this.svcs[c.svc]!;
    if (proto === TCP) {
      const ev = tcpEvent(ip[ihl + 13]!);
      if (ev) this.conns.setState(c, nextTcpState(c.state, ev, 'output'), nowMs);
    } else this.conns.touchUdp(c, nowMs);
    if (s.method === 'fullnat') return [this.fnatOut(c, ip, nowMs)];
    if (s.method !== 'nat') return this.log('rs', nowMs, 'drop', `${s.method}: replies do not pass the director`);
    // NAT reply (§1.3): kernel forwarding already took TTL −1 (§1.1).
    if (ip[8]! <= 1) {
      this.log('rs', nowMs, 'icmp', 'reply TTL ≤ 1: ICMP time exceeded to the RS');
      return [{ side: 'rs', frame: ethFrame(this.rsMacs.get(c.rip)!, this.dirRsMac, ETH_IPV4, icmpError(ip, 11, 0, this.dip, c.rip, this.nextId())), note: 'icmp time-exceeded to RS' }];
    }
    ip[8] = ip[8]! - 1;
    const csum = ihl + (proto === TCP ? 16 : 6);
    if (!this.faults.has('nat-reply-src')) {
      const zero = proto === UDP && ip.readUInt16BE(csum) === 0;
      ip.writeUInt32BE(c.vip, 12);
      if (zero) {
        ip.writeUInt16BE(c.vport, ihl);
      } else {
        pseudoAddrChange(ip, csum, c.rip, c.vip);
        patchL4(ip, ihl, csum, ihl, ihl + 2, () => ip.writeUInt16BE(c.vport, ihl));
      }
    }
    recomputeIpv4Checksum(ip, 0);
    this.log('rs', nowMs, 'forward', `nat reply → ${ipv4ToString(c.cip)}:${c.cport}`);
    return [this.toClient(ip, this.gatewayMac ?? c.clientMac, 'nat reply')];
  }

  /** FullNAT RS→client (§2.1, §2.4, §3.1). */
  private fnatOut(c: Conn, ip: Buffer, nowMs: number): DirectorOutput {
    const proto = ip[9]!;
    const ihl = (ip[0]! & 15) * 4;
    if (proto === TCP) {
      const flags = ip[ihl + 13]!;
      if ((flags & 0x12) === 0x12) {
        c.fdataSeq = (ip.readUInt32BE(ihl + 4) + 1) >>> 0;
        if (!this.faults.has('mss-not-adjusted')) adjustMss(ip, TOA_LEN_V4);
      }
      if (flags & 0x10 && !this.faults.has('ack-not-shifted')) addToSeqField(ip, 8, -c.seqDelta);
      if (!this.faults.has('sack-not-shifted')) shiftSack(ip, c.seqDelta);
    }
    this.fnatRewrite(ip, c.vip, c.vport, c.cip, c.cport);
    this.log('rs', nowMs, 'forward', `fullnat reply → ${ipv4ToString(c.cip)}:${c.cport}`);
    return this.toClient(ip, this.gatewayMac ?? c.clientMac, 'fullnat reply');
  }

  /**
   * FullNAT replaces both ends of an IPv4 packet: addresses and ports, the L4 checksum updated
   * incrementally (a bad one stays bad; a UDP datagram sent without one keeps none), then the
   * IP header checksum. DPVS recomputes the TCP checksum on every packet (tcp_send_csum); ALI
   * updates it incrementally.
   */
  private fnatRewrite(ip: Buffer, src: number, sport: number, dst: number, dport: number): void {
    const ihl = (ip[0]! & 15) * 4;
    // Behind DPVS's UOA shim (§3.3) the UDP header starts after the shim's length.
    const shimmed = ip[9] === IPPROTO_OPT;
    const proto = shimmed ? ip[ihl + 1]! : ip[9]!;
    const l4 = shimmed ? ihl + ip.readUInt16BE(ihl + 2) : ihl;
    const csum = l4 + (proto === TCP ? 16 : 6);
    const udpZero = proto === UDP && ip.readUInt16BE(csum) === 0;
    const oldSrc = ip.readUInt32BE(12);
    const oldDst = ip.readUInt32BE(16);
    ip.writeUInt32BE(src, 12);
    ip.writeUInt32BE(dst, 16);
    if (udpZero || shimmed) {
      ip.writeUInt16BE(sport, l4);
      ip.writeUInt16BE(dport, l4 + 2);
    } else {
      pseudoAddrChange(ip, csum, oldSrc, src);
      pseudoAddrChange(ip, csum, oldDst, dst);
      patchL4(ip, l4, csum, l4, l4 + 4, () => {
        ip.writeUInt16BE(sport, l4);
        ip.writeUInt16BE(dport, l4 + 2);
      });
    }
    if (this.profile === 'dpvs') {
      // DPVS computes TCP and UDP checksums afresh (tcp_send_csum, udp_send_csum): a client's
      // "no checksum" UDP gets one, except behind the IPv4 shim, where it leaves 0.
      if (shimmed) ip.writeUInt16BE(0, csum);
      else if (proto === TCP || proto === UDP) setL4Checksum(ip);
    }
    recomputeIpv4Checksum(ip, 0);
  }

  // ------------------------------------------------------------------------------- helpers

  private toClient(ip: Buffer, dstMac: Buffer | null, note: string): DirectorOutput {
    return { side: 'client', frame: ethFrame(dstMac ?? Buffer.from([255, 255, 255, 255, 255, 255]), this.dirMac, ETH_IPV4, ip), note };
  }

  private nextId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  private log(ingress: Side, nowMs: number, action: string, detail: string): DirectorOutput[] {
    this.events.push({ ingress, nowMs, action, detail });
    return [];
  }
}

/** The kernel's ip_rcv checks: version 4, IHL ≥ 5, header checksum correct. */
function ipv4HeaderOk(b: Buffer, off: number): boolean {
  const ihl = (b[off]! & 15) * 4;
  if (ihl < 20 || off + ihl > b.length) return false;
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += b.readUInt16BE(off + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

function fmtMac(m: Buffer): string {
  return [...m].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

