/**
 * Connection table of the reference director: IPVS connection entries with the TCP state
 * machine and timeouts of lvs-behavior.md §1.8, and persistence templates of §1.11.
 * Keys are strings built from numbers (cheap, and exact); the director is an oracle, not a
 * line-rate forwarder.
 */
import type { SchedDest } from './sched/index.js';

export type TcpState = 'NONE' | 'ESTABLISHED' | 'SYN_SENT' | 'SYN_RECV' | 'FIN_WAIT' | 'TIME_WAIT' | 'CLOSE' | 'CLOSE_WAIT' | 'LAST_ACK' | 'LISTEN' | 'SYNACK';

/** §1.8 timeouts in seconds. */
export const TCP_TIMEOUTS: Record<TcpState, number> = {
  NONE: 2,
  ESTABLISHED: 900,
  SYN_SENT: 120,
  SYN_RECV: 60,
  FIN_WAIT: 120,
  TIME_WAIT: 120,
  CLOSE: 10,
  CLOSE_WAIT: 60,
  LAST_ACK: 30,
  LISTEN: 120,
  SYNACK: 120,
};
export const UDP_TIMEOUT_S = 300;
/** A new connection's timer before its first state transition (ip_vs_conn_new). */
export const NEW_CONN_TIMEOUT_S = 3;
/** A template that still controls connections is re-armed with this on expiry. */
export const TEMPLATE_REARM_S = 60;

const ACTIVE: ReadonlySet<TcpState> = new Set(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK']);
export const isActiveState = (s: TcpState): boolean => ACTIVE.has(s);

// tcp_states[] of ip_vs_proto_tcp.c: rows by event (syn, fin, ack, rst), columns by current state.
const COLS: TcpState[] = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK'];
type Row = readonly string[];
const NO = 'NONE', ES = 'ESTABLISHED', SS = 'SYN_SENT', SR = 'SYN_RECV', FW = 'FIN_WAIT', TW = 'TIME_WAIT', CL = 'CLOSE', CW = 'CLOSE_WAIT', LA = 'LAST_ACK', LI = 'LISTEN', SA = 'SYNACK';
void NO;
void SA; // SYNACK is only entered by the SYN-proxy paths we do not model
/*               sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA */
const INPUT: Record<TcpEvent, Row> = {
  syn: [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  fin: [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
  ack: [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  rst: [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
};
const OUTPUT: Record<TcpEvent, Row> = {
  syn: [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
  fin: [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  ack: [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  rst: [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
};
/** DR/TUN: the director sees only the client's half (IP_VS_CONN_F_NOOUTPUT). */
const INPUT_ONLY: Record<TcpEvent, Row> = {
  syn: [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  fin: [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  ack: [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  rst: [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
};

export type TcpEvent = 'syn' | 'fin' | 'ack' | 'rst';
export type Direction = 'input' | 'output' | 'input-only';

/** tcp_state_idx: flag priority RST > SYN > FIN > ACK; null when none of them is set. */
export function tcpEvent(flags: number): TcpEvent | null {
  if (flags & 0x04) return 'rst';
  if (flags & 0x02) return 'syn';
  if (flags & 0x01) return 'fin';
  if (flags & 0x10) return 'ack';
  return null;
}

export function nextTcpState(state: TcpState, ev: TcpEvent, dir: Direction): TcpState {
  const table = dir === 'input' ? INPUT : dir === 'output' ? OUTPUT : INPUT_ONLY;
  return table[ev][COLS.indexOf(state)] as TcpState;
}

/** One IPVS connection entry. */
export interface Conn {
  id: number;
  proto: number;
  /** Client address/port and the VIP:vport they talk to (uint32 / number). */
  cip: number;
  cport: number;
  vip: number;
  vport: number;
  /** The scheduled real server and the port used toward it. */
  dest: SchedDest;
  rip: number;
  rport: number;
  /** FullNAT local address and port (0 otherwise). */
  lip: number;
  lport: number;
  state: TcpState;
  expiresMs: number;
  /** Service this belongs to (index in the director's service list). */
  svc: number;
  /** Source MAC of the client's last packet: the L2 next hop back to the client. */
  clientMac: Buffer;
  /** FullNAT sequence state (§2.2, §3.1). */
  seqDelta: number;
  /** RS_ISN + 1 once the RS SYN-ACK was seen; packets acking exactly this get TOA. */
  fdataSeq: number | null;
  /** Persistence template controlling this connection, if any. */
  template: Template | null;
  /** DPVS FullNAT UDP: datagrams sent with UOA so far (§3.3, at most `uoa_max_trail`). */
  uoaSent: number;
}

export interface Template {
  key: string;
  dest: SchedDest;
  expiresMs: number;
  timeoutS: number;
  /** Connections it currently controls. */
  controls: number;
}

function ckey(proto: number, a: number, ap: number, b: number, bp: number): string {
  return `${proto}:${a >>> 0}:${ap}:${b >>> 0}:${bp}`;
}

export class ConnTable {
  private readonly byClient = new Map<string, Conn>();
  /** Reverse key as the RS reply carries it: (RIP, rport) → (CIP|LIP, cport|lport). */
  private readonly byRs = new Map<string, Conn>();
  private readonly templates = new Map<string, Template>();
  private nextId = 1;

  get size(): number {
    return this.byClient.size;
  }

  /** All live entries (for tests and reports). */
  entries(): Conn[] {
    return [...this.byClient.values()];
  }

  templateCount(): number {
    return this.templates.size;
  }

  findFromClient(proto: number, cip: number, cport: number, vip: number, vport: number, nowMs: number): Conn | undefined {
    return this.unexpired(this.byClient.get(ckey(proto, cip, cport, vip, vport)), nowMs);
  }

  /** RS→director packet: src RIP:rport, dst (CIP or LIP):(cport or lport). */
  findFromRs(proto: number, rip: number, rport: number, dst: number, dport: number, nowMs: number): Conn | undefined {
    return this.unexpired(this.byRs.get(ckey(proto, rip, rport, dst, dport)), nowMs);
  }

  /** An entry found by a lookup, unless its timer ran out: then it is removed, as the kernel's
   *  expiry would have done by now. */
  private unexpired(c: Conn | undefined, nowMs: number): Conn | undefined {
    if (c && c.expiresMs <= nowMs) {
      this.remove(c);
      return undefined;
    }
    return c;
  }

  /** True when a FullNAT (LIP, lport) toward (RIP, rport) is already taken (§2.1 lport tries). */
  rsKeyInUse(proto: number, rip: number, rport: number, lip: number, lport: number): boolean {
    return this.byRs.has(ckey(proto, rip, rport, lip, lport));
  }

  add(init: Omit<Conn, 'id' | 'state' | 'expiresMs'>, nowMs: number): Conn {
    const c: Conn = { ...init, id: this.nextId++, state: 'NONE', expiresMs: nowMs + NEW_CONN_TIMEOUT_S * 1000 };
    this.byClient.set(ckey(c.proto, c.cip, c.cport, c.vip, c.vport), c);
    const back = c.lip !== 0 ? c.lip : c.cip;
    const backPort = c.lip !== 0 ? c.lport : c.cport;
    this.byRs.set(ckey(c.proto, c.rip, c.rport, back, backPort), c);
    c.dest.inactive++;
    if (c.template) c.template.controls++;
    return c;
  }

  remove(c: Conn): void {
    this.byClient.delete(ckey(c.proto, c.cip, c.cport, c.vip, c.vport));
    const back = c.lip !== 0 ? c.lip : c.cip;
    const backPort = c.lip !== 0 ? c.lport : c.cport;
    this.byRs.delete(ckey(c.proto, c.rip, c.rport, back, backPort));
    if (isActiveState(c.state)) c.dest.active--;
    else c.dest.inactive--;
    if (c.template) c.template.controls--;
  }

  /** Moves a connection to `state` and re-arms its timer with that state's timeout (§1.8). */
  setState(c: Conn, state: TcpState, nowMs: number): void {
    const wasActive = isActiveState(c.state);
    const isActive = isActiveState(state);
    if (wasActive !== isActive) {
      if (isActive) {
        c.dest.inactive--;
        c.dest.active++;
      } else {
        c.dest.active--;
        c.dest.inactive++;
      }
    }
    c.state = state;
    c.expiresMs = nowMs + TCP_TIMEOUTS[state] * 1000;
  }

  /** UDP: every packet re-arms the 300 s timer. */
  touchUdp(c: Conn, nowMs: number): void {
    c.expiresMs = nowMs + UDP_TIMEOUT_S * 1000;
  }

  getTemplate(key: string, nowMs: number): Template | undefined {
    const t = this.templates.get(key);
    if (!t) return undefined;
    if (t.expiresMs <= nowMs) {
      if (t.controls > 0) {
        t.expiresMs = nowMs + TEMPLATE_REARM_S * 1000;
        return t;
      }
      this.templates.delete(key);
      return undefined;
    }
    return t;
  }

  addTemplate(key: string, dest: SchedDest, timeoutS: number, nowMs: number): Template {
    const t: Template = { key, dest, timeoutS, expiresMs: nowMs + timeoutS * 1000, controls: 0 };
    this.templates.set(key, t);
    return t;
  }

  dropTemplate(key: string): void {
    this.templates.delete(key);
  }

  /** Expires everything whose timer ran out (a periodic sweep; lookups also expire lazily). */
  sweep(nowMs: number): number {
    let n = 0;
    for (const c of [...this.byClient.values()]) {
      if (c.expiresMs <= nowMs) {
        this.remove(c);
        n++;
      }
    }
    for (const t of [...this.templates.values()]) this.getTemplate(t.key, nowMs);
    return n;
  }
}
