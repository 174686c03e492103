/**
 * The watcher's engine: a pure class fed ARP records (with their frame's bytes, for evidence)
 * in time order and a clock; it keeps the station table and the claims of every VIP and returns
 * the events each input causes. No I/O, no timers: `lvsaudit arp --watch` drives it from a live
 * interface or a capture file, tests drive it directly.
 */
import { AddressBook } from '../addr.js';
import { formatTimestamp } from '../../../decode/frame.js';
import { macText, parseMacNum } from '../mac.js';
import type { ArpRecord } from '../records.js';
import { afterClaim, answersConflict, CLAIM_WINDOW_NS, judgeClaim, type ClaimHistory, type ConflictReason } from '../conflict.js';
import { LruMap, StationTable, newStation, stationKey, type StationKey } from './stations.js';
import {
  DEFAULT_MAX_STATIONS,
  type Claimant,
  type EventFrame,
  type Station,
  type StationRole,
  type WatchConfig,
  type WatchEvent,
  type WatchEventKind,
  type WatchSeverity,
} from './types.js';

/** Two MACs claiming one VIP closer than this (without an announced move) is a conflict; a
 *  conflict ends when all its MACs but one have been silent this long. */
export { CLAIM_WINDOW_NS };
/** Answers to a who-has later than this are not counted as its answers (Linux repeats an
 *  unanswered who-has every second). */
export const REPLY_WINDOW_NS = 1e9;
/** GARPs of one station further apart than this start a new burst (as the offline rule). */
export const BURST_GAP_NS = 2e9;
/** GARPs in one burst before it is reported. */
export const BURST_MIN = 3;
/** After a flip-flop is printed for a station, further ones within this are only counted. */
export const FLIP_QUIET_NS = 60e9;
/** Claimants tracked per VIP, and who-has requests for it awaiting answers. */
const MAX_CLAIMANTS = 16;
const MAX_PENDING = 8;

interface ClaimantState {
  mac: number;
  firstNs: number;
  lastNs: number;
  count: number;
  /** Its last claim (a copy), for evidence. */
  frame: EventFrame | null;
  nonDirectorReportedNs: number;
}

interface PendingWhoHas {
  reqMac: number;
  reqIp: number;
  tNs: number;
  answerers: number[];
  frames: EventFrame[];
}

interface ActiveConflict {
  startNs: number;
  macs: Set<number>;
  /** Claiming MACs past the listing bound. */
  unlisted: number;
}

interface VipState {
  vlan: string;
  vip: number;
  history: ClaimHistory;
  claimants: Map<number, ClaimantState>;
  pending: PendingWhoHas[];
  conflict: ActiveConflict | null;
}

const NO_EVENTS: readonly WatchEvent[] = Object.freeze([]);

/** ns as a float is exact to a few hundred ns today: printed rounded to the microsecond. */
function isoOfNs(ns: number): string {
  const sec = Math.floor(ns / 1e9);
  return formatTimestamp(sec, Math.max(0, Math.min(999_999_000, Math.round((ns - sec * 1e9) / 1000) * 1000)));
}

const SEVERITY: Record<WatchEventKind, WatchSeverity> = {
  'new-station': 'info',
  'changed-mac': 'info',
  'flip-flop': 'warning',
  'garp-burst': 'info',
  'vip-conflict': 'error',
  'vip-conflict-end': 'info',
  'vip-claimed-by-non-director': 'error',
  'ethernet-mismatch': 'warning',
};

function parseList(what: string, list: readonly string[], parse: (t: string) => number | null): Set<number> {
  const out = new Set<number>();
  for (const t of list) {
    const n = parse(t);
    if (n === null) throw new RangeError(`${what} ${t}: not valid`);
    out.add(n);
  }
  return out;
}

export class ArpWatcher {
  readonly stations: StationTable;
  private readonly vips: Set<number>;
  private readonly directors: Set<number>;
  private readonly rips: Set<number>;
  /** MAC → RIP of the real server that owns it (from the station table or an rs:IP capture). */
  private readonly rsMacs = new Map<number, number>();
  private readonly rsByRip = new Map<number, number>();
  private readonly vipStates = new Map<StationKey, VipState>();
  /** The same states as a list: walked at every packet without an iterator. */
  private readonly vipList: VipState[] = [];
  /** MAC → the non-VIP address it was last learned with; bounded like the station table. */
  private readonly macAddr: LruMap<number, number>;
  /** Events of the current call; handed out and replaced only when something happened. */
  private out: WatchEvent[] = [];
  /** Address keys ↔ text, both families (neighbor discovery records carry IPv6 keys). */
  readonly addrs: AddressBook;
  /** LINKTYPE_* of the frame being observed (for evidence). */
  private linkType = 1;
  /** The record being observed (null in tick): events at its time print its exact timestamp. */
  private cur: ArpRecord | null = null;
  /** ARP records seen, and events by kind. */
  records = 0;
  readonly counts: Record<WatchEventKind, number> = {
    'new-station': 0,
    'changed-mac': 0,
    'flip-flop': 0,
    'garp-burst': 0,
    'vip-conflict': 0,
    'vip-conflict-end': 0,
    'vip-claimed-by-non-director': 0,
    'ethernet-mismatch': 0,
  };

  constructor(cfg: WatchConfig) {
    this.addrs = cfg.addrs ?? new AddressBook();
    this.vips = parseList('VIP', cfg.vips, (t) => this.addrs.parse(t));
    this.directors = parseList('director MAC', cfg.directorMacs, parseMacNum);
    this.rips = parseList('real server', cfg.realServers, (t) => this.addrs.parse(t));
    this.stations = new StationTable(cfg.maxStations ?? DEFAULT_MAX_STATIONS);
    this.macAddr = new LruMap(this.stations.max);
  }

  /** Puts back stations of a previous run (no events); they count as seen before. */
  restore(stations: readonly Station[], dropped: number): void {
    for (const s of stations) {
      if (this.rips.has(s.ip)) this.bindRs(s.mac, s.ip);
      this.learnAddr(s.mac, s.ip);
      s.role = this.stationRole(s.ip, s.mac);
      this.stations.add(stationKey(s.vlan, s.ip), s);
    }
    this.stations.dropped += dropped;
  }

  /**
   * One ARP record (in time order) and its frame's bytes `buf[off, off+len)`, read only when an
   * event fires. Returns the events it causes; the array is valid until the next call.
   */
  observe(r: ArpRecord, buf: Uint8Array, off: number, len: number, linkType = 1): readonly WatchEvent[] {
    this.out = NO_EVENTS as WatchEvent[];
    this.linkType = linkType;
    this.cur = r;
    this.records++;
    this.advance(r.tsNs);
    if (r.probe || r.spa === 0) return this.out;
    this.learnFromPoint(r);
    this.updateStation(r, buf, off, len);
    // An answer is matched to its who-has before it counts as a claim, so two answers to one
    // request are reported as that (the more telling reason).
    if (r.op === 1 && !r.gratuitous && this.vips.has(r.tpa)) this.whoHas(r, buf, off, len);
    else if (r.op === 2 && this.vips.has(r.spa)) this.answer(r, buf, off, len);
    if (this.vips.has(r.spa)) this.claim(r, buf, off, len);
    return this.out;
  }

  /** The clock moved to `nowNs` without a packet (live mode): closes what timed out. */
  tick(nowNs: number): readonly WatchEvent[] {
    this.out = NO_EVENTS as WatchEvent[];
    this.cur = null;
    this.advance(nowNs);
    return this.out;
  }

  get dropped(): number {
    return this.stations.dropped;
  }

  private emit(kind: WatchEventKind, tNs: number, vlan: string, ip: number, mac: number, message: string, frames: EventFrame[], extra: Partial<WatchEvent> = {}): void {
    if (this.out === NO_EVENTS) this.out = [];
    this.counts[kind]++;
    const r = this.cur;
    const time = r !== null && r.tsNs === tNs ? formatTimestamp(r.tsSec, r.tsNsec) : isoOfNs(tNs);
    this.out.push({ kind, severity: SEVERITY[kind], time, vlan, ip: this.addrs.text(ip), mac: macText(mac), ...extra, message, frames });
  }

  private frameOf(r: ArpRecord, buf: Uint8Array, off: number, len: number, note: string): EventFrame {
    return { capture: r.capture, frame: r.frame, tsSec: r.tsSec, tsNsec: r.tsNsec, linkType: this.linkType, bytes: Uint8Array.prototype.slice.call(buf, off, off + len), note };
  }

  private macRole(mac: number): StationRole {
    if (this.directors.has(mac)) return 'director';
    if (this.rsMacs.has(mac)) return 'real-server';
    return 'other';
  }

  private stationRole(ip: number, mac: number): StationRole {
    const byMac = this.macRole(mac);
    if (this.vips.has(ip)) return byMac === 'other' ? 'vip-claimant' : byMac;
    if (this.rips.has(ip)) return 'real-server';
    return byMac;
  }

  /** "02:…:04:00 (real server 10.0.0.11)": the MAC with what is known of its host. */
  private describeMac(mac: number): string {
    const rip = this.rsMacs.get(mac);
    if (rip !== undefined) return `${macText(mac)} (real server ${this.addrs.text(rip)})`;
    if (this.directors.has(mac)) return `${macText(mac)} (director)`;
    const ips = this.ipsOf(mac);
    return ips.length > 0 ? `${macText(mac)} (${ips.join(', ')})` : macText(mac);
  }

  /** One MAC per real server (its latest): the map stays as small as the list of RIPs. */
  private bindRs(mac: number, rip: number): void {
    const prev = this.rsByRip.get(rip);
    if (prev !== undefined && prev !== mac) this.rsMacs.delete(prev);
    this.rsByRip.set(rip, mac);
    this.rsMacs.set(mac, rip);
  }

  /** The non-VIP address this MAC was last learned with (its RIP first when known). */
  private ipsOf(mac: number): string[] {
    const out: string[] = [];
    const rip = this.rsMacs.get(mac);
    if (rip !== undefined) out.push(this.addrs.text(rip));
    const ip = this.macAddr.get(mac);
    if (ip !== undefined && ip !== rip) out.push(this.addrs.text(ip));
    return out;
  }

  /** Remembers `mac`'s address when a station is made or changes MAC (not per packet). */
  private learnAddr(mac: number, ip: number): void {
    if (!this.vips.has(ip)) this.macAddr.set(mac, ip);
  }

  /** A capture taken on real server RIP (point rs:RIP) sees unicast only to or from its host:
   *  a reply there not addressed to the RIP or a VIP was sent by that host. */
  private learnFromPoint(r: ArpRecord): void {
    if (r.op !== 2) return;
    this.bindFromPoint(r, r.point);
    for (let i = 0; i < r.copies.length; i++) this.bindFromPoint(r, r.copies[i]!.point);
  }

  private bindFromPoint(r: ArpRecord, point: string): void {
    if (!point.startsWith('rs:')) return;
    const rip = this.addrs.parse(point.slice(3));
    if (rip === null || r.tpa === rip || this.vips.has(r.tpa)) return;
    if (this.rsMacs.get(r.sha) !== rip) this.bindRs(r.sha, rip);
  }

  private updateStation(r: ArpRecord, buf: Uint8Array, off: number, len: number): void {
    const t = r.tsNs;
    const key = stationKey(r.vlan, r.spa);
    let s = this.stations.touch(key);
    if (this.rips.has(r.spa) && this.rsMacs.get(r.sha) !== r.spa) this.bindRs(r.sha, r.spa);
    if (s === undefined) {
      this.learnAddr(r.sha, r.spa);
      s = newStation(r.vlan, r.spa, r.sha, t, this.stationRole(r.spa, r.sha));
      this.stations.add(key, s);
      this.emit('new-station', t, r.vlan, r.spa, r.sha, `new station ${this.addrs.text(r.spa)} at ${macText(r.sha)}${vlanSuffix(r.vlan)} (${s.role})`, [
        this.frameOf(r, buf, off, len, 'first ARP from this station'),
      ]);
    } else if (s.mac !== r.sha) {
      this.learnAddr(r.sha, r.spa);
      const old = s.mac;
      const back = r.sha === s.previousMac;
      s.previousMac = old;
      s.mac = r.sha;
      s.macChanges++;
      s.garpCount = 0;
      s.role = this.stationRole(r.spa, r.sha);
      const frames = [this.frameOf(r, buf, off, len, `${this.addrs.text(r.spa)} now at ${macText(r.sha)}`)];
      // Back to the MAC before, announced by gratuitous ARP, is a failback (keepalived's
      // preemption): a move like the failover, not the alternation of two claimants.
      if (back && !r.gratuitous) {
        if (t - s.flipReportedNs >= FLIP_QUIET_NS || s.flipReportedNs === 0) {
          const quiet = s.flipsQuiet > 0 ? ` (${s.flipsQuiet} more since the last report)` : '';
          s.flipsQuiet = 0;
          s.flipReportedNs = t;
          this.emit('flip-flop', t, r.vlan, r.spa, r.sha, `flip-flop ${this.addrs.text(r.spa)}${vlanSuffix(r.vlan)}: back to ${this.describeMac(r.sha)} from ${this.describeMac(old)}${quiet}`, frames, {
            previousMac: macText(old),
          });
        } else s.flipsQuiet++;
      } else {
        const how = r.gratuitous ? (back ? ', back to the MAC before, announced by gratuitous ARP' : ', announced by gratuitous ARP') : '';
        this.emit('changed-mac', t, r.vlan, r.spa, r.sha, `changed MAC ${this.addrs.text(r.spa)}${vlanSuffix(r.vlan)}: ${this.describeMac(old)} → ${this.describeMac(r.sha)}${how}`, frames, {
          previousMac: macText(old),
        });
      }
      s.changedNs = t;
    }
    s.lastNs = t;
    s.packets++;
    if (r.ethSrc !== null && r.ethSrc !== r.sha && !s.mismatchReported) {
      s.mismatchReported = true;
      this.emit(
        'ethernet-mismatch',
        t,
        r.vlan,
        r.spa,
        r.sha,
        `ethernet mismatch ${this.addrs.text(r.spa)}${vlanSuffix(r.vlan)}: ARP sender ${macText(r.sha)} in a frame from ${macText(r.ethSrc)}`,
        [this.frameOf(r, buf, off, len, `Ethernet source ${macText(r.ethSrc)} ≠ sender ${macText(r.sha)}`)],
      );
    }
    if (r.gratuitous) {
      if (s.garpCount === 0 || t - s.garpLastNs > BURST_GAP_NS) {
        s.garpStartNs = t;
        s.garpCount = 0;
      }
      s.garpCount++;
      s.garpLastNs = t;
      if (s.garpCount === BURST_MIN) {
        const ms = ((t - s.garpStartNs) / 1e6).toFixed(1);
        this.emit('garp-burst', t, r.vlan, r.spa, r.sha, `gratuitous ARP burst ${this.addrs.text(r.spa)}${vlanSuffix(r.vlan)} from ${this.describeMac(r.sha)}: ${BURST_MIN} in ${ms} ms`, [
          this.frameOf(r, buf, off, len, `gratuitous ARP ${BURST_MIN} of the burst`),
        ]);
      }
    }
  }

  private vipState(r: ArpRecord, vip: number): VipState {
    const key = stationKey(r.vlan, vip);
    let v = this.vipStates.get(key);
    if (v === undefined) {
      v = { vlan: r.vlan, vip, history: { owner: -1, ownerLastNs: 0, movedFrom: -1, movedNs: 0 }, claimants: new Map(), pending: [], conflict: null };
      this.vipStates.set(key, v);
      this.vipList.push(v);
    }
    return v;
  }

  private claim(r: ArpRecord, buf: Uint8Array, off: number, len: number): void {
    const t = r.tsNs;
    const v = this.vipState(r, r.spa);
    let c = v.claimants.get(r.sha);
    const prevLast = c?.lastNs ?? -Infinity;
    if (c === undefined) {
      if (v.claimants.size >= MAX_CLAIMANTS) this.forgetQuietestClaimant(v);
      c = { mac: r.sha, firstNs: t, lastNs: t, count: 0, frame: null, nonDirectorReportedNs: 0 };
      v.claimants.set(r.sha, c);
    }
    const what = r.op === 2 ? 'reply' : r.gratuitous ? 'gratuitous ARP' : 'request with the VIP as sender';
    c.lastNs = t;
    c.count++;
    c.frame = this.frameOf(r, buf, off, len, `${macText(r.sha)} claims ${this.addrs.text(r.spa)} (${what})`);
    const claim = { mac: r.sha, tNs: t, gratuitous: r.gratuitous };
    const verdict = judgeClaim(v.history, claim, CLAIM_WINDOW_NS);
    v.history = afterClaim(v.history, claim, verdict);
    if (verdict.conflict !== null) this.conflict(v, t, verdict.conflict, [verdict.other, r.sha], null);
    else if (v.conflict !== null && !v.conflict.macs.has(r.sha) && verdict.other >= 0 && verdict.moves) {
      // A MAC that was not part of the conflict takes the VIP over: still a conflict, with more MACs.
      this.conflict(v, t, 'concurrent', [verdict.other, r.sha], null);
    }
    const nonDirector = this.directors.size > 0 ? !this.directors.has(r.sha) : this.rsMacs.has(r.sha);
    if (nonDirector && (c.nonDirectorReportedNs === 0 || t - prevLast > CLAIM_WINDOW_NS)) {
      c.nonDirectorReportedNs = t;
      const who = this.directors.size > 0 ? `the directors are ${[...this.directors].map(macText).join(', ')}` : 'it is a real server';
      this.emit('vip-claimed-by-non-director', t, r.vlan, r.spa, r.sha, `VIP ${this.addrs.text(r.spa)}${vlanSuffix(r.vlan)} claimed in a ${what} by ${this.describeMac(r.sha)}, not a director: ${who}`, [c.frame]);
    }
  }

  /** Makes room among a VIP's claimants: the one silent the longest goes (a conflict keeps its
   *  MACs listed in its own set). */
  private forgetQuietestClaimant(v: VipState): void {
    let oldest: ClaimantState | null = null;
    for (const c of v.claimants.values()) if (oldest === null || c.lastNs < oldest.lastNs) oldest = c;
    if (oldest !== null) v.claimants.delete(oldest.mac);
  }

  private whoHas(r: ArpRecord, buf: Uint8Array, off: number, len: number): void {
    const v = this.vipState(r, r.tpa);
    if (v.pending.length >= MAX_PENDING) v.pending.shift();
    v.pending.push({ reqMac: r.sha, reqIp: r.spa, tNs: r.tsNs, answerers: [], frames: [this.frameOf(r, buf, off, len, `who-has ${this.addrs.text(r.tpa)} from ${this.addrs.text(r.spa)}`)] });
  }

  /** A reply for the VIP: counted as an answer of the latest matching who-has. */
  private answer(r: ArpRecord, buf: Uint8Array, off: number, len: number): void {
    const v = this.vipState(r, r.spa);
    for (let i = v.pending.length - 1; i >= 0; i--) {
      const q = v.pending[i]!;
      if (r.tsNs - q.tNs > REPLY_WINDOW_NS) break;
      if (q.reqIp !== r.tpa && q.reqMac !== r.tha) continue;
      if (!q.answerers.includes(r.sha)) {
        q.answerers.push(r.sha);
        q.frames.push(this.frameOf(r, buf, off, len, `${macText(r.sha)} answers`));
        if (answersConflict(q.answerers)) this.conflict(v, r.tsNs, 'two-answers', q.answerers, q);
      }
      return;
    }
  }

  /** Starts a conflict, or widens it with MACs it did not list yet (one event each time). */
  private conflict(v: VipState, t: number, reason: ConflictReason, macs: readonly number[], q: PendingWhoHas | null): void {
    const fresh = v.conflict === null;
    if (v.conflict === null) v.conflict = { startNs: t, macs: new Set(), unlisted: 0 };
    const k = v.conflict;
    const listed = k.macs.size;
    const unlisted = k.unlisted;
    for (const m of macs) {
      if (m < 0 || k.macs.has(m)) continue;
      // A flood of claiming MACs is listed up to the bound and counted beyond it.
      if (k.macs.size < MAX_CLAIMANTS) k.macs.add(m);
      else k.unlisted++;
    }
    // Reported again for a newly listed MAC; past the bound at 1, 10, 100, … unlisted ones.
    const decade = k.unlisted > unlisted && /^10*$/.test(String(k.unlisted));
    if (!fresh && k.macs.size === listed && !decade) return;
    const list = [...v.conflict.macs];
    const claimants: Claimant[] = list.map((m) => {
      const c = v.claimants.get(m);
      return {
        mac: macText(m),
        role: this.macRole(m),
        ips: this.ipsOf(m),
        firstClaim: c ? isoOfNs(c.firstNs) : '',
        lastClaim: c ? isoOfNs(c.lastNs) : '',
        claims: c?.count ?? 0,
      };
    });
    const why =
      reason === 'two-answers'
        ? `two answers to one who-has from ${this.addrs.text(q!.reqIp)} (${macText(q!.reqMac)})`
        : reason === 'alternating'
          ? 'claims alternate: the MAC it moved away from claims it again'
          : `claimed by another MAC within ${CLAIM_WINDOW_NS / 1e9} s without a gratuitous-ARP move`;
    const frames: EventFrame[] = q !== null ? [...q.frames] : [];
    for (const m of list) {
      const f = v.claimants.get(m)?.frame;
      if (f && !frames.some((x) => x.capture === f.capture && x.frame === f.frame)) frames.push(f);
    }
    const culprit = macs[macs.length - 1]!;
    this.emit(
      'vip-conflict',
      t,
      v.vlan,
      v.vip,
      culprit,
      `VIP conflict ${this.addrs.text(v.vip)}${vlanSuffix(v.vlan)}: ${list.map((m) => this.describeMac(m)).join(' and ')}${k.unlisted > 0 ? ` and ${k.unlisted} more MACs` : ''}; ${why}`,
      frames,
      { claimants },
    );
  }

  /** Closes who-has requests past the reply window and conflicts that are over. */
  private advance(now: number): void {
    for (let i = 0; i < this.vipList.length; i++) {
      const v = this.vipList[i]!;
      while (v.pending.length > 0 && now - v.pending[0]!.tNs > REPLY_WINDOW_NS) {
        const q = v.pending.shift()!;
        const k = v.conflict;
        if (k !== null && q.answerers.length === 1 && q.tNs > k.startNs) {
          this.endConflict(v, q.tNs + REPLY_WINDOW_NS, q.answerers[0]!, `who-has from ${this.addrs.text(q.reqIp)} answered by ${this.describeMac(q.answerers[0]!)} alone`, q.frames);
        }
      }
      const k = v.conflict;
      if (k === null) continue;
      let live = 0;
      let last = -1;
      for (const m of k.macs) {
        const c = v.claimants.get(m);
        if (c !== undefined && now - c.lastNs <= CLAIM_WINDOW_NS) {
          live++;
          last = m;
        }
      }
      if (live <= 1 && now - k.startNs > CLAIM_WINDOW_NS) {
        const who = last >= 0 ? `only ${this.describeMac(last)} claimed it` : 'nobody claimed it';
        this.endConflict(v, now, last, `${who} for the last ${CLAIM_WINDOW_NS / 1e9} s`, []);
      }
    }
  }

  private endConflict(v: VipState, t: number, owner: number, why: string, frames: EventFrame[]): void {
    if (v.conflict === null) return;
    const secs = ((t - v.conflict.startNs) / 1e9).toFixed(1);
    v.conflict = null;
    v.history = { owner, ownerLastNs: owner >= 0 ? (v.claimants.get(owner)?.lastNs ?? t) : 0, movedFrom: -1, movedNs: 0 };
    this.emit('vip-conflict-end', t, v.vlan, v.vip, owner >= 0 ? owner : 0, `VIP conflict ${this.addrs.text(v.vip)}${vlanSuffix(v.vlan)} over after ${secs} s: ${why}`, frames);
  }
}

function vlanSuffix(vlan: string): string {
  return vlan === '' ? '' : ` on VLAN ${vlan}`;
}
