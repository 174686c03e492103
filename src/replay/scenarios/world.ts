/**
 * In-process network for `replay --write`: the scenarios' client, the reference director and
 * simulated real servers joined by links with fixed latencies on a virtual clock, with a capture
 * at every point (client, director — both legs, and per NIC —, each real server). Nothing here
 * reads the wall clock or Math.random, so the same inputs give the same bytes.
 */
import { ReferenceDirector, type DirectorConfig, type DirectorEvent } from '../director/index.js';
import type { ClientIo } from './tcp-client.js';
import { SimServer } from './server.js';
import { decodeForScenario, type ScenarioRun, type Verdict } from './catalog.js';

/** One captured frame at one point, at virtual time `ms`. */
export interface CapturedFrame {
  ms: number;
  frame: Buffer;
}

export type PointName = 'client' | 'director' | 'director-eth0' | 'director-eth1' | `rs${number}`;

type Node = 'client' | 'dir-client' | 'dir-rs' | `rs:${number}`;

interface Ev {
  ms: number;
  seq: number;
  to: Node;
  frame: Buffer;
}

export interface WorldServer {
  name: string;
  rip: string;
  mac: string;
  /** Where its replies go (L2): director RS-side MAC or the client router. */
  replyMac: string;
  addresses: string[];
  ipip: boolean;
}

export interface ScenarioResult {
  name: string;
  sent: number;
  received: number;
  verdict: Verdict;
  directorEvents: DirectorEvent[];
}

/** Link latency and director processing time (ms). */
const HOP_MS = 0.1;
const DIRECTOR_MS = 0.02;
/** A scenario that has not finished after this much virtual time is judged as it stands. */
const SCENARIO_TIMEOUT_MS = 3000;
const SCENARIO_GAP_MS = 100;

export class World {
  readonly director: ReferenceDirector;
  readonly captures = new Map<PointName, CapturedFrame[]>();
  private readonly servers: SimServer[];
  private readonly serverMacs: string[];
  private queue: Ev[] = [];
  private seq = 0;
  private now = 0;
  private current: ScenarioRun | null = null;

  constructor(
    directorCfg: DirectorConfig,
    servers: WorldServer[],
    private readonly split: boolean,
    seed: number,
  ) {
    this.director = new ReferenceDirector(directorCfg);
    this.servers = servers.map((s, i) => new SimServer({ ...s, seed: (seed * 31 + i + 1) >>> 0 }));
    this.serverMacs = servers.map((s) => s.mac.toLowerCase());
    for (const p of ['client', 'director'] as PointName[]) this.captures.set(p, []);
    if (split) {
      this.captures.set('director-eth0', []);
      this.captures.set('director-eth1', []);
    }
    servers.forEach((_, i) => this.captures.set(`rs${i + 1}`, []));
  }

  /** Runs scenarios one after another; returns each one's verdict. */
  run(scenarios: ScenarioRun[]): ScenarioResult[] {
    const results: ScenarioResult[] = [];
    for (const sc of scenarios) {
      this.current = sc;
      const startMs = this.now;
      this.director.drainEvents();
      const io: ClientIo = {
        nowMs: () => this.now,
        send: (frame, delayMs = 0) => {
          this.record('client', this.now + delayMs, frame);
          this.push(this.now + delayMs + HOP_MS, 'dir-client', frame);
        },
      };
      sc.start(io);
      while (this.queue.length && this.now - startMs < SCENARIO_TIMEOUT_MS) this.step(io);
      this.queue = [];
      results.push({ name: sc.name, sent: sc.sent(), received: sc.received(), verdict: sc.verdict(), directorEvents: this.director.drainEvents() });
      this.now += SCENARIO_GAP_MS;
    }
    this.current = null;
    // A point records a frame when it is sent or arrives, which is not always in time order
    // (the director's output is stamped after its input): captures are written chronologically.
    for (const frames of this.captures.values()) frames.sort((a, b) => a.ms - b.ms);
    return results;
  }

  private push(ms: number, to: Node, frame: Buffer): void {
    const ev: Ev = { ms, seq: this.seq++, to, frame };
    // Keep the queue ordered by (time, insertion): small queues, a sorted insert is enough.
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1]!.ms > ms || (this.queue[i - 1]!.ms === ms && this.queue[i - 1]!.seq > ev.seq))) i--;
    this.queue.splice(i, 0, ev);
  }

  private record(point: PointName, ms: number, frame: Buffer): void {
    this.captures.get(point)?.push({ ms, frame });
  }

  private recordDirector(side: 'client' | 'rs', ms: number, frame: Buffer): void {
    this.record('director', ms, frame);
    if (this.split) this.record(side === 'client' ? 'director-eth0' : 'director-eth1', ms, frame);
  }

  private step(io: ClientIo): void {
    const ev = this.queue.shift()!;
    this.now = Math.max(this.now, ev.ms);
    switch (ev.to) {
      case 'client': {
        this.record('client', ev.ms, ev.frame);
        const p = decodeForScenario(ev.frame);
        this.current?.receive(ev.frame, p, io);
        return;
      }
      case 'dir-client':
      case 'dir-rs': {
        const side = ev.to === 'dir-client' ? 'client' : 'rs';
        this.recordDirector(side, ev.ms, ev.frame);
        const outs = this.director.handle(ev.frame, ev.ms, side);
        const t = ev.ms + DIRECTOR_MS;
        for (const o of outs) {
          this.recordDirector(o.side, t, o.frame);
          if (o.side === 'client') this.push(t + HOP_MS, 'client', o.frame);
          else {
            const idx = this.serverMacs.indexOf(macText(o.frame));
            if (idx >= 0) this.push(t + HOP_MS, `rs:${idx}`, o.frame);
          }
        }
        return;
      }
      default: {
        const idx = Number(ev.to.slice(3));
        const server = this.servers[idx]!;
        this.record(`rs${idx + 1}`, ev.ms, ev.frame);
        const replies = server.handle(ev.frame, ev.ms);
        let t = ev.ms + 0.05;
        for (const r of replies) {
          this.record(`rs${idx + 1}`, t, r);
          // DR/TUN servers answer the client's router directly; NAT/FullNAT ones go back via the director.
          const toClient = macText(r) === this.clientMac;
          this.push(t + HOP_MS, toClient ? 'client' : 'dir-rs', r);
          t += 0.01;
        }
      }
    }
  }

  private clientMac: string | null = null;

  /** The client's (router's) MAC: server frames sent to it bypass the director (DR/TUN). */
  setClientMac(mac: string): void {
    this.clientMac = mac.toLowerCase();
  }
}

function macText(frame: Buffer): string {
  return [...frame.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
