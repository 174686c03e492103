/**
 * The kernel's own views of IPVS, for nodes without ipvsadm (a Kubernetes node in IPVS mode, a
 * container with /proc mounted): `/proc/net/ip_vs` (the service table, read as a config) and
 * `/proc/net/ip_vs_conn` (the connection table, parsed so the connections a capture shows can be
 * checked against the ones the kernel made).
 *
 * Layout facts (net/netfilter/ipvs/ip_vs_ctl.c ip_vs_info_seq_show, ip_vs_conn.c
 * ip_vs_conn_seq_show), confirmed on a 6.1 kernel (fixtures/configs/proc):
 * - IPv4 addresses are 8 hex digits of the host-order value, ports 4 hex digits; IPv6 addresses
 *   are the full eight-group form, in brackets in ip_vs, bare in ip_vs_conn.
 * - A fwmark service is `FWM  %08X`: no address family is printed, so it comes from the
 *   destinations.
 * - `persistent T M`: T is the timeout in jiffies (seconds × CONFIG_HZ, which the file does not
 *   say), M the netmask as hex (IPv4) or the prefix length passed through ntohl (IPv6: 64
 *   prints as 40000000 on little-endian hosts).
 * - `ops` is printed for IPv4 and fwmark services only; scheduler flags, tunnel types and the
 *   persistence engine are not printed at all.
 * - Destinations come in the kernel's list order (the newest first), which is the order rr and
 *   wrr walk; ipvsadm sorts them instead.
 */
import { ipv6ToString, parseIpv6 } from '../../decode/addr.js';
import {
  type ForwardMethod,
  type Protocol,
  type RealServer,
  type Service,
  type ServiceSet,
  ConfigError,
  findService,
  formatHostPort,
  newService,
  serviceKey,
} from './model.js';
import { type Fail, addRealServer, finishService, parseScheduler } from './build.js';

/** What a node reading the file could not tell us and we assumed (Debian/Ubuntu's CONFIG_HZ). */
export const DEFAULT_PROC_HZ = 250;

export interface ProcOptions {
  /** The director kernel's CONFIG_HZ, to turn persistence timeouts from jiffies into seconds. */
  hz?: number;
}

const FORWARD: Record<string, ForwardMethod> = {
  Masq: 'nat',
  Local: 'dr', // a destination on the director itself; ipvsadm saves it as -g too
  Route: 'dr',
  Tunnel: 'tun',
  FullNat: 'fullnat',
};

const HEX_V4 = /^[0-9A-Fa-f]{8}$/;
const HEX_PORT = /^[0-9A-Fa-f]{4}$/;
const FULL_V6 = /^[0-9a-fA-F]{4}(:[0-9a-fA-F]{4}){7}$/;

/** `C0A80016` → `192.168.0.22` (the kernel prints the host-order value). */
function hexV4(text: string): string | null {
  if (!HEX_V4.test(text)) return null;
  const v = parseInt(text, 16);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function fullV6(text: string): string | null {
  if (!FULL_V6.test(text)) return null;
  const b = parseIpv6(text);
  return b ? ipv6ToString(b, 0) : null;
}

interface Endpoint {
  ip: string;
  family: 4 | 6;
  port: number;
}

/** `C0A80016:0CEA` or `[2001:0db8:…:0022]:0050` (ip_vs); null when it is neither. */
function bracketEndpoint(text: string): Endpoint | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const portText = text.slice(colon + 1);
  if (!HEX_PORT.test(portText)) return null;
  const port = parseInt(portText, 16);
  const host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) {
    const ip = fullV6(host.slice(1, -1));
    return ip === null ? null : { ip, family: 6, port };
  }
  const ip = hexV4(host);
  return ip === null ? null : { ip, family: 4, port };
}

/** An address column of ip_vs_conn: 8 hex digits or the bare full IPv6 form. */
function connAddress(text: string): { ip: string; family: 4 | 6 } | null {
  const v4 = hexV4(text);
  if (v4 !== null) return { ip: v4, family: 4 };
  const v6 = fullV6(text);
  return v6 === null ? null : { ip: v6, family: 6 };
}

const SERVICE_LINE = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\S+)(.*)$/;
const FWM_LINE = /^FWM\s+(\S+)\s+(\S+)(.*)$/;
const DEST_LINE = /^\s+->\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$/;

/** Whether `text` is /proc/net/ip_vs (hex addresses), as opposed to ipvsadm -Ln (dotted). */
export function looksLikeProcIpVs(lines: readonly string[]): boolean {
  for (const l of lines) {
    if (/RemoteAddress:Port/.test(l)) continue; // the column header matches the destination pattern
    const m = SERVICE_LINE.exec(l) ?? DEST_LINE.exec(l);
    if (m) return bracketEndpoint(m[m.length === 6 ? 1 : 2]!) !== null;
    const f = FWM_LINE.exec(l);
    if (!f) continue;
    // "FWM  00000001": ipvsadm prints the mark in decimal without padding, so a leading zero or
    // a hex letter says /proc; eight decimal digits without either could be both, look further.
    if (!/^[0-9A-F]{8}$/.test(f[1]!)) return false;
    if (f[1]!.startsWith('0') || /[A-F]/.test(f[1]!)) return true;
  }
  return false;
}

/** The header of /proc/net/ip_vs_conn (and of ip_vs_conn_sync, which adds Origin). */
export const PROC_CONN_HEADER = /^Pro\s+FromIP\s+FPrt\s+ToIP\s+TPrt\s+DestIP\s+DPrt\s+State\s+(Origin\s+)?Expires/;

/** Per-destination counters of /proc/net/ip_vs, which the service model does not carry. */
export interface ProcDestination {
  service: string;
  realServer: string;
  activeConns: number;
  inactiveConns: number;
  line: number;
}

export interface ProcIpVs {
  set: ServiceSet;
  destinations: ProcDestination[];
}

/** Reads /proc/net/ip_vs into the service model plus the connection counters. */
export function readProcIpVs(text: string, file: string, opts: ProcOptions = {}): ProcIpVs {
  const hz = opts.hz ?? DEFAULT_PROC_HZ;
  const services: Service[] = [];
  const destinations: ProcDestination[] = [];
  const notes: string[] = [];
  /** Fwmark services whose family is still open (no destination seen yet). */
  const familyOpen = new Set<Service>();
  /** The mask column per persistent service, read once the family is known (fwmark: its
   *  first destination's). */
  const masks = new Map<Service, string>();
  let persistentSeen = false;
  let current: Service | null = null;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const lineNo = ln + 1;
    const line = lines[ln]!.replace(/\s+$/, '');
    const fail: Fail = (what) => {
      throw new ConfigError(file, lineNo, what);
    };
    if (line === '') continue;
    if (/^IP Virtual Server version \S+ \(size=\d+\)$/.test(line)) continue;
    if (/^Prot LocalAddress:Port\s+Scheduler Flags$/.test(line)) continue;
    if (/^\s+->\s+RemoteAddress:Port\s+Forward\s+Weight\s+ActiveConn\s+InActConn$/.test(line)) continue;
    const sm = SERVICE_LINE.exec(line);
    const fm = sm ? null : FWM_LINE.exec(line);
    if (sm || fm) {
      let svc: Service;
      let rest: string[];
      if (sm) {
        const ep = bracketEndpoint(sm[2]!);
        if (!ep) fail(`bad virtual service address "${sm[2]}" (expected hex ADDR:PORT as /proc/net/ip_vs prints it)`);
        const protocol = sm[1]!.toLowerCase() as Protocol;
        svc = newService({ protocol, vip: ep.ip, vport: ep.port, family: ep.family, source: { file, line: lineNo } });
        if (sm[3] === 'none') fail('service has no scheduler ("none")');
        svc.scheduler = parseScheduler(sm[3], fail);
        rest = sm[4]!.trim().split(/\s+/).filter((w) => w !== '');
      } else {
        if (!/^[0-9A-Fa-f]{8}$/.test(fm![1]!)) fail(`bad fwmark "${fm![1]}" (expected 8 hex digits)`);
        const mark = parseInt(fm![1]!, 16);
        if (mark === 0) fail('fwmark 0 is not a valid service');
        svc = newService({ protocol: 'tcp', vip: '', vport: 0, family: 4, fwmark: mark, source: { file, line: lineNo } });
        if (fm![2] === 'none') fail('service has no scheduler ("none")');
        svc.scheduler = parseScheduler(fm![2], fail);
        rest = fm![3]!.trim().split(/\s+/).filter((w) => w !== '');
        familyOpen.add(svc);
      }
      for (let i = 0; i < rest.length; i++) {
        const w = rest[i]!;
        if (w === 'ops') svc.ops = true;
        else if (w === 'persistent') {
          const t = rest[++i];
          const m = rest[++i];
          if (t === undefined || !/^\d{1,10}$/.test(t)) fail(`persistent needs a timeout in jiffies, got "${t ?? ''}"`);
          if (m === undefined || !HEX_V4.test(m)) fail(`persistent needs a hex netmask, got "${m ?? ''}"`);
          const jiffies = Number(t);
          if (jiffies === 0 || jiffies % hz !== 0) {
            fail(`persistence timeout ${jiffies} jiffies is not a whole number of seconds at HZ=${hz}: the director kernel's CONFIG_HZ differs`);
          }
          svc.persistenceTimeout = jiffies / hz;
          masks.set(svc, m);
          persistentSeen = true;
        } else fail(`unknown service flag "${w}" in /proc/net/ip_vs`);
      }
      services.push(svc);
      current = svc;
      continue;
    }
    const dm = DEST_LINE.exec(line);
    if (dm) {
      if (!current) fail('real server line before any service line');
      const ep = bracketEndpoint(dm[1]!);
      if (!ep) fail(`bad real server address "${dm[1]}" (expected hex ADDR:PORT)`);
      const method = FORWARD[dm[2]!];
      if (!method) fail(`unknown forwarding method "${dm[2]}" (Masq, Local, Route, Tunnel, FullNat)`);
      const counts = [dm[3]!, dm[4]!, dm[5]!];
      if (!counts.every((c) => /^\d{1,10}$/.test(c))) fail(`bad weight or connection counter in "${line.trim()}"`);
      const [weight, active, inactive] = counts.map(Number) as [number, number, number];
      if (weight > 65535) fail(`weight ${weight} out of range 0..65535`);
      if (familyOpen.has(current)) {
        familyOpen.delete(current);
        current.family = ep.family;
      }
      const rs: RealServer = { ip: ep.ip, port: ep.port, weight, method, source: { file, line: lineNo } };
      addRealServer(current, rs, fail);
      destinations.push({
        service: serviceKey(current),
        realServer: formatHostPort(rs.ip, rs.port),
        activeConns: active,
        inactiveConns: inactive,
        line: lineNo,
      });
      continue;
    }
    if (PROC_CONN_HEADER.test(line)) {
      fail('this is /proc/net/ip_vs_conn, the connection table; give /proc/net/ip_vs as the config');
    }
    fail(`unrecognised line in /proc/net/ip_vs: "${line.trim().slice(0, 60)}"`);
  }
  // Keys are taken at the end: a fwmark service's family (part of its identity) comes from its
  // destinations.
  const seen = new Set<string>();
  for (const s of services) {
    const svcFail: Fail = (what) => {
      throw new ConfigError(file, s.source.line, what);
    };
    const mask = masks.get(s);
    if (mask !== undefined) s.persistenceMask = procMask(mask, s.family, svcFail);
    finishService(s, null, svcFail);
    const key = serviceKey(s);
    if (seen.has(key)) svcFail(`service ${key} listed twice`);
    seen.add(key);
    if (familyOpen.has(s)) notes.push(`${file}:${s.source.line}: ${serviceKey(s)} has no destination to tell its address family; taken as IPv4`);
  }
  notes.push(`${file}: read as /proc/net/ip_vs: scheduler flags, tunnel types and persistence engines are not in this file`);
  if (persistentSeen) {
    notes.push(`${file}: persistence timeouts are in jiffies there; read with HZ=${hz}`);
  }
  return { set: { services, format: 'proc-ip-vs', notes }, destinations };
}

/** Reads /proc/net/ip_vs as a service config. */
export function parseProcIpVs(text: string, file: string, opts: ProcOptions = {}): ServiceSet {
  return readProcIpVs(text, file, opts).set;
}

/** The persistence netmask column in model form (null = host granularity). */
function procMask(hex: string, family: 4 | 6, fail: Fail): string | null {
  const v = parseInt(hex, 16) >>> 0;
  if (family === 4) {
    const inv = ~v >>> 0;
    if ((inv & (inv + 1)) !== 0 || v === 0) fail(`bad persistence netmask ${hex}`);
    if (v === 0xffffffff) return null;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  // IPv6 keeps the prefix length in the mask field and the kernel prints it through ntohl,
  // so a little-endian director shows it byte-swapped; either order has one small value.
  const swapped = (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
  const len = v >= 1 && v <= 128 ? v : swapped >= 1 && swapped <= 128 ? swapped : -1;
  if (len < 0) return fail(`bad IPv6 persistence prefix length ${hex}`);
  return len === 128 ? null : String(len);
}

// ---------------------------------------------------------------------------------------------
// /proc/net/ip_vs_conn

export interface KernelEndpoint {
  ip: string;
  family: 4 | 6;
  port: number;
}

/** One entry of the kernel's connection table. */
export interface KernelConnection {
  /** tcp, udp, sctp; `ip` for a fwmark persistence template (its protocol is 0). */
  protocol: Protocol | 'ip';
  client: KernelEndpoint;
  virtual: KernelEndpoint;
  destination: KernelEndpoint;
  /** Protocol state as the kernel names it (SYN_RECV, ESTABLISHED, UDP, NONE …). */
  state: string;
  /** Seconds until the entry expires. */
  expires: number;
  /** A persistence template (client port 0, state NONE or ASSURED), not a connection. */
  template: boolean;
  /** ip_vs_conn_sync's Origin column (Local or Sync), when the file has it. */
  origin?: string;
  /** Persistence engine name and data (e.g. sip and a Call-ID), when the entry has them. */
  pe?: { name: string; data: string };
  line: number;
}

const CONN_PROTOCOLS: Record<string, Protocol | 'ip'> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', IP: 'ip' };

/** Parses /proc/net/ip_vs_conn (or ip_vs_conn_sync); bad lines are ConfigErrors naming the line. */
export function parseProcIpVsConn(text: string, file: string): KernelConnection[] {
  const out: KernelConnection[] = [];
  const lines = text.split(/\r?\n/);
  let withOrigin: boolean | null = null;
  for (let ln = 0; ln < lines.length; ln++) {
    const lineNo = ln + 1;
    const line = lines[ln]!.trim();
    const fail: Fail = (what) => {
      throw new ConfigError(file, lineNo, what);
    };
    if (line === '') continue;
    const h = PROC_CONN_HEADER.exec(line);
    if (h) {
      withOrigin = h[1] !== undefined;
      continue;
    }
    if (withOrigin === null) fail('not /proc/net/ip_vs_conn: the "Pro FromIP FPrt ToIP …" header is missing');
    const w = line.split(/\s+/);
    const fixed = withOrigin ? 10 : 9;
    if (w.length !== fixed && w.length !== fixed + 2) fail(`expected ${fixed} columns (or ${fixed + 2} with a persistence engine), got ${w.length}`);
    const protocol = CONN_PROTOCOLS[w[0]!];
    if (!protocol) fail(`unknown protocol "${w[0]}"`);
    const ends: KernelEndpoint[] = [];
    for (let i = 1; i < 7; i += 2) {
      const a = connAddress(w[i]!);
      if (!a) fail(`bad address "${w[i]}" (8 hex digits or a full IPv6 address)`);
      if (!HEX_PORT.test(w[i + 1]!)) fail(`bad port "${w[i + 1]}" (4 hex digits)`);
      ends.push({ ...a, port: parseInt(w[i + 1]!, 16) });
    }
    const state = w[7]!;
    if (!/^[A-Z_]+$/.test(state)) fail(`bad state "${state}"`);
    const expiresText = w[withOrigin ? 9 : 8]!;
    if (!/^\d{1,10}$/.test(expiresText)) fail(`bad expiry "${expiresText}" (seconds)`);
    const conn: KernelConnection = {
      protocol,
      client: ends[0]!,
      virtual: ends[1]!,
      destination: ends[2]!,
      state,
      expires: Number(expiresText),
      template: ends[0]!.port === 0 && (state === 'NONE' || state === 'ASSURED'),
      line: lineNo,
    };
    if (withOrigin) conn.origin = w[8]!;
    if (w.length === fixed + 2) conn.pe = { name: w[fixed]!, data: w[fixed + 1]! };
    out.push(conn);
  }
  if (withOrigin === null) throw new ConfigError(file, 0, 'empty: not /proc/net/ip_vs_conn (no header)');
  return out;
}

/** A kernel connection that the service set cannot explain. */
export interface ConnectionMismatch {
  line: number;
  what: string;
}

/**
 * Cross-checks the kernel's connection table with a service set: every connection (templates
 * included) must be to a configured service and go to one of its real servers. Fwmark
 * services cannot be found from addresses (the mark is not in the table), so a connection that
 * matches no addressed service is accepted when the set has a fwmark service whose real servers
 * include its destination.
 */
export function crossCheckConnections(set: ServiceSet, conns: readonly KernelConnection[]): ConnectionMismatch[] {
  const out: ConnectionMismatch[] = [];
  const fwmarkDests = new Set<string>();
  for (const s of set.services) {
    if (s.fwmark === undefined) continue;
    for (const r of s.realServers) fwmarkDests.add(r.ip);
  }
  for (const c of conns) {
    const dest = formatHostPort(c.destination.ip, c.destination.port);
    const svc = c.protocol === 'ip' ? undefined : findService(set, c.virtual.ip, c.virtual.port, c.protocol);
    if (!svc) {
      if (fwmarkDests.has(c.destination.ip)) continue;
      out.push({ line: c.line, what: `${c.protocol.toUpperCase()} ${formatHostPort(c.virtual.ip, c.virtual.port)} is no configured service` });
      continue;
    }
    // A port-0 service forwards to the client's destination port (ip_vs_schedule).
    const ok = svc.realServers.some((r) => r.ip === c.destination.ip && (r.port === c.destination.port || r.port === 0));
    if (!ok) out.push({ line: c.line, what: `${dest} is not a real server of ${serviceKey(svc)}` });
  }
  return out;
}
