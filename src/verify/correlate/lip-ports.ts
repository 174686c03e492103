/**
 * Local ports a FullNAT director holds, counted from the captures of its LIP legs: why a SYN
 * that reached the director was not forwarded, where the cause is that the LIP had no port
 * left toward a real server (flow.not-forwarded's hint; docs/rules.md).
 *
 * A port of (LIP, RIP:rport) is counted as held from the SYN the director sent from it until
 * the leg shows a FIN or RST, or until its last packet is older than the time the director
 * keeps a connection in the state the leg shows (director profile's defaults: DPVS keeps a
 * SYN it sent 3 s, a connection the real server answered 30 s, an established one 90 s). Both
 * ends are taken early (a closing connection still holds its port a few seconds; a capture may
 * start after a SYN), so the count is never more than the director held: when it reaches the
 * whole range the director hands out, the range was in use. Memory: one entry per live leg.
 *
 * The check runs when a client's SYN reaches the director (it is fed in corrected-time order,
 * so the legs seen so far are those opened before it); what it found is kept as stretches of
 * time per (LIP, RIP:rport), which the rule reads when it judges the SYN's connection later.
 */
import type { PacketRecord } from '../model/record.js';
import type { Profile } from './context.js';

/** The local ports a director hands out per LIP and real server (with one DPVS worker lcore). */
export interface LipPortRange {
  low: number;
  high: number;
  /** Where the range comes from, for the hint. */
  what: string;
}

/**
 * Ranges known per director profile. DPVS v1.10.2 sa_pool.c: ports 1025–65535 per LIP, per
 * worker lcore and per pool (pool = (low 16 bits of the RIP + rport) mod `pool_hash_size`);
 * with n workers and the flow director each lcore has its share, which verify cannot see, and
 * the hint is then not given. Other profiles: the range is a local setting, not known here.
 */
export const LIP_PORT_RANGES: Readonly<Partial<Record<Profile, LipPortRange>>> = {
  dpvs: { low: 1025, high: 65535, what: "DPVS's sa_pool range 1025–65535" },
};

/** Hold times (ns) by what the leg shows: SYN sent, answered, established (DPVS's default timeouts). */
export interface HoldTimes {
  synSent: number;
  synRecv: number;
  established: number;
}

export const DPVS_HOLD_NS: HoldTimes = { synSent: 3e9, synRecv: 30e9, established: 90e9 };

const SYN_SENT = 0;
const SYN_RECV = 1;
const ESTABLISHED = 2;

interface Held {
  state: number;
  lastT: number;
}

interface Pair {
  lip: string;
  rip: string;
  rport: number;
  ports: Map<number, Held>;
  /** No held port expires before this (a lower bound: a port's expiry only moves later once set). */
  nextExpiry: number;
  /** Stretches of time in which every client SYN found this pair's ports all held. */
  full: Stretch[];
}

interface Stretch {
  from: number;
  to: number;
  held: number;
  /** The stretch is still growing (the last check found the pair full). */
  open: boolean;
}

/** What the hint says about one (LIP, RIP:rport) at a SYN's time. */
export interface LipExhaustion {
  lip: string;
  rip: string;
  rport: number;
  held: number;
  range: LipPortRange;
}

/** Whole sweeps of idle legs, at most this often (capture time): they only bound memory. */
const SWEEP_EVERY_NS = 60e9;
/** Stretches kept per pair: rules read them within a few windows of the SYN. */
const MAX_STRETCHES = 4096;

export class LipPortCounter {
  /** Pairs by LIP, RIP and rport: looked up per packet by the record's own strings, no key built. */
  private readonly byLip = new Map<string, Map<string, Map<number, Pair>>>();
  private readonly pairs: Pair[] = [];
  private readonly lips: ReadonlySet<string>;
  private nextSweep = -Infinity;

  constructor(
    lips: Iterable<string>,
    private readonly vip: string,
    private readonly vport: number,
    readonly range: LipPortRange,
    private readonly hold: HoldTimes = DPVS_HOLD_NS,
  ) {
    this.lips = new Set(lips);
  }

  /** A counter for a FullNAT service under a profile whose range is known; else null. */
  static forService(profile: Profile, lips: readonly string[], vip: string, vport: number): LipPortCounter | null {
    const range = LIP_PORT_RANGES[profile];
    if (!range || lips.length === 0) return null;
    return new LipPortCounter(lips, vip, vport, range);
  }

  get size(): number {
    return this.range.high - this.range.low + 1;
  }

  /** Legs held now, over every pair (tests and memory accounting). */
  get held(): number {
    let n = 0;
    for (const p of this.pairs) n += p.ports.size;
    return n;
  }

  /** Feed one record (any point, corrected-time order). */
  observe(r: PacketRecord, atDirector: boolean): void {
    if (r.proto !== 'tcp') return;
    if (this.lips.has(r.ip.src)) this.leg(r, r.ip.src, r.ip.dst, r.dport, r.sport, true);
    else if (this.lips.has(r.ip.dst)) this.leg(r, r.ip.dst, r.ip.src, r.sport, r.dport, false);
    else if (atDirector && r.ip.dst === this.vip && (this.vport === 0 || r.dport === this.vport) && (r.flags & 0x12) === 0x02) this.check(r.t);
  }

  private find(lip: string, rip: string, rport: number): Pair | undefined {
    return this.byLip.get(lip)?.get(rip)?.get(rport);
  }

  private pair(lip: string, rip: string, rport: number): Pair {
    let byRip = this.byLip.get(lip);
    if (!byRip) this.byLip.set(lip, (byRip = new Map()));
    let byPort = byRip.get(rip);
    if (!byPort) byRip.set(rip, (byPort = new Map()));
    let p = byPort.get(rport);
    if (!p) {
      p = { lip, rip, rport, ports: new Map(), nextExpiry: Infinity, full: [] };
      byPort.set(rport, p);
      this.pairs.push(p);
    }
    return p;
  }

  private leg(r: PacketRecord, lip: string, rip: string, rport: number, lport: number, fromLip: boolean): void {
    const f = r.flags;
    const syn = (f & 0x12) === 0x02;
    if (fromLip && syn) {
      const p = this.pair(lip, rip, rport);
      p.nextExpiry = Math.min(p.nextExpiry, r.t + this.hold.synSent);
      const h = p.ports.get(lport);
      if (h) {
        h.state = SYN_SENT;
        h.lastT = r.t;
      } else p.ports.set(lport, { state: SYN_SENT, lastT: r.t });
      return;
    }
    const p = this.find(lip, rip, rport);
    const h = p?.ports.get(lport);
    if (!p || !h) return;
    // Quiet longer than its state's hold: the director has let it go, whatever comes later.
    if ((f & 0x05) !== 0 || h.lastT + this.holdOf(h.state) < r.t) {
      // FIN or RST: the director will let the port go (a few seconds later; counted as now).
      p.ports.delete(lport);
      return;
    }
    h.lastT = Math.max(h.lastT, r.t);
    if (!fromLip && (f & 0x12) === 0x12) h.state = Math.max(h.state, SYN_RECV);
    else if (fromLip && (f & 0x10) !== 0 && h.state === SYN_RECV) h.state = ESTABLISHED;
  }

  private holdOf(state: number): number {
    return state === ESTABLISHED ? this.hold.established : state === SYN_RECV ? this.hold.synRecv : this.hold.synSent;
  }

  private sweepPair(p: Pair, t: number): void {
    if (t <= p.nextExpiry) return;
    let next = Infinity;
    for (const [port, h] of p.ports) {
      const expiry = h.lastT + this.holdOf(h.state);
      if (expiry < t) p.ports.delete(port);
      else next = Math.min(next, expiry);
    }
    p.nextExpiry = next;
  }

  /** A client SYN reached the director at t: which pairs have every port held. */
  private check(t: number): void {
    if (t >= this.nextSweep) {
      for (const p of this.pairs) this.sweepPair(p, t);
      this.nextSweep = t + SWEEP_EVERY_NS;
    }
    const size = this.size;
    for (const p of this.pairs) {
      // Only a pair that may be full is swept now: the others cannot be, whatever expired.
      if (p.ports.size >= size) this.sweepPair(p, t);
      const last = p.full[p.full.length - 1];
      if (p.ports.size >= size) {
        if (last?.open) {
          last.to = t;
          last.held = Math.max(last.held, p.ports.size);
        } else {
          p.full.push({ from: t, to: t, held: p.ports.size, open: true });
          if (p.full.length > MAX_STRETCHES) p.full.shift();
        }
      } else if (last?.open) last.open = false;
    }
  }

  /**
   * The pairs whose ports were all held when a client SYN reached the director at t, for the
   * real servers toward which every LIP of the service was full then (a director tries its other
   * LIPs before it gives up on a SYN: DPVS dp_vs_laddr_bind). Empty when there is none.
   */
  exhaustedAt(t: number): LipExhaustion[] {
    const byServer = new Map<string, LipExhaustion[]>();
    for (const p of this.pairs) {
      const s = p.full.find((x) => x.from <= t && t <= x.to);
      if (!s) continue;
      const key = `${p.rip}|${p.rport}`;
      const list = byServer.get(key) ?? [];
      list.push({ lip: p.lip, rip: p.rip, rport: p.rport, held: s.held, range: this.range });
      byServer.set(key, list);
    }
    return [...byServer.values()].filter((list) => list.length === this.lips.size).flat();
  }
}

/** flow.not-forwarded's hint for a SYN dropped while LIP ports were exhausted. */
export function exhaustionHint(found: readonly LipExhaustion[]): string {
  const pairs = found.map((x) => `${x.lip} toward ${x.rip}:${x.rport} (${x.held} held)`).join(', ');
  const r = found[0]!.range;
  return (
    `the local address had no free port: every port of ${r.what} from ${pairs} was held by a connection the captures show open ` +
    '(a director drops a SYN it cannot give a local port; DPVS counts it as sa_miss in `dpip -s addr show`): add local addresses (ipvsadm --add-laddr), or shorten how long half-open and idle connections are kept'
  );
}
