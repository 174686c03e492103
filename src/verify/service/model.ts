/**
 * The service model: what a director is configured to do (VIP, real servers, forwarding method,
 * scheduler, persistence, FullNAT local addresses). Every config parser (ipvsadm, keepalived,
 * command-line flags) produces it and every rule reads it, so it is plain data: JSON-friendly
 * objects with canonical address text (RFC 5952 for IPv6) so lookups can compare strings.
 */
import { InputError } from '../../errors.js';
import { ipv4ToString, ipv6ToString, parseIpv4, parseIpv6 } from '../../decode/addr.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export type ForwardMethod = 'nat' | 'dr' | 'tun' | 'fullnat';
export type TunnelType = 'ipip' | 'gue' | 'gre';
export type TunnelCsum = 'nocsum' | 'csum' | 'remcsum';
export type ConfigFormat = 'ipvsadm-save' | 'ipvsadm-list' | 'proc-ip-vs' | 'keepalived' | 'flags' | 'inferred';

/** Where a service or real server was defined (line 0 = not from a file, e.g. flags). */
export interface SourceRef {
  file: string;
  line: number;
}

export interface RealServer {
  /** RIP, canonical text. */
  ip: string;
  /** Destination port; for DR/TUN on a non-fwmark service it equals the VIP port (ipvsadm forces it). */
  port: number;
  /** 0..65535; 0 = quiesced (lvs-behavior.md §1.10). */
  weight: number;
  /** ipvsadm sets forwarding per destination (-g/-m/-i/-b), so it lives here. */
  method: ForwardMethod;
  /** Only for method 'tun' when a type was configured (mainline ipvsadm --tun-type, keepalived `type`). */
  tunnelType?: TunnelType;
  /** GUE destination port (--tun-port / keepalived `port`). */
  tunnelPort?: number;
  tunnelCsum?: TunnelCsum;
  source?: SourceRef;
}

export interface Service {
  protocol: Protocol;
  /** VIP, canonical text; '' for a fwmark service (it has no address). */
  vip: string;
  /** VIP port; 0 for fwmark services and for port-0 (all ports) persistent services. */
  vport: number;
  family: 4 | 6;
  fwmark?: number;
  /** Lower-case scheduler name; 'wlc' when not configured (ipvsadm DEF_SCHED). */
  scheduler: string;
  /** sh-port, sh-fallback, mh-port, mh-fallback, flag-1 … in a stable (sorted) order. */
  schedFlags: string[];
  /** Seconds; null = not persistent. `-p` / `persistence_timeout` without value = 360 (§1.11). */
  persistenceTimeout: number | null;
  /** Persistence granularity: IPv4 dotted mask or IPv6 prefix length as text; null = host (/32, /128). */
  persistenceMask: string | null;
  /** Convenience: the forwarding method all real servers agree on (or the configured default
   *  when the format has one, e.g. keepalived lb_kind); null when they disagree or none is known. */
  method: ForwardMethod | null;
  realServers: RealServer[];
  /** FullNAT local addresses (LIPs), canonical text, in configured order (LIP choice is round-robin, §2.1). */
  localAddresses: string[];
  synproxy: boolean;
  /** One-packet scheduling (UDP). */
  ops: boolean;
  /** Persistence engine (ipvsadm --pe, e.g. "sip"). */
  pe?: string;
  sorryServer?: { ip: string; port: number };
  source: SourceRef;
}

export interface ServiceSet {
  services: Service[];
  format: ConfigFormat;
  /** Things the parser read but did not model (include not followed, unknown -Ln flags …). */
  notes: string[];
}

/** A config that cannot be read: says file, line and what, and ends the CLI with exit 2. */
export class ConfigError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly what: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${what}` : `${file}: ${what}`);
    this.name = 'ConfigError';
  }
}

// ---------------------------------------------------------------------------------------------
// Address text helpers (canonical forms so lookups are plain string compares)

export interface IpText {
  ip: string;
  family: 4 | 6;
}

/** Canonical text and family of an IPv4/IPv6 address (brackets allowed for IPv6); null if invalid. */
export function canonicalIp(text: string): IpText | null {
  const t = text.trim();
  if (t.includes(':') || t.startsWith('[')) {
    const b = parseIpv6(t);
    return b ? { ip: ipv6ToString(b, 0), family: 6 } : null;
  }
  const v = parseIpv4(t);
  return v === null ? null : { ip: ipv4ToString(v), family: 4 };
}

/** Parses a decimal port 0..65535; null otherwise. */
export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

export interface HostPort extends IpText {
  /** null when the text carried no port. */
  port: number | null;
}

/**
 * `1.2.3.4:80`, `1.2.3.4`, `[2001:db8::1]:80`, `[2001:db8::1]`, `2001:db8::1` (a bare IPv6
 * address never carries a port: ipvsadm requires brackets for that). Null when malformed.
 */
export function parseHostPort(text: string): HostPort | null {
  const t = text.trim();
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) return null;
    const addr = canonicalIp(t.slice(1, close));
    if (!addr || addr.family !== 6) return null;
    const rest = t.slice(close + 1);
    if (rest === '') return { ...addr, port: null };
    if (!rest.startsWith(':')) return null;
    const port = parsePort(rest.slice(1));
    return port === null ? null : { ...addr, port };
  }
  const colons = t.split(':').length - 1;
  if (colons === 1) {
    const [h, p] = t.split(':') as [string, string];
    const addr = canonicalIp(h);
    const port = parsePort(p);
    if (!addr || addr.family !== 4 || port === null) return null;
    return { ...addr, port };
  }
  const addr = canonicalIp(t);
  return addr ? { ...addr, port: null } : null;
}

/** `1.2.3.4:80` / `[2001:db8::1]:80`. */
export function formatHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Canonical dotted IPv4 netmask (contiguous ones), or null. */
export function canonicalV4Mask(text: string): string | null {
  const v = parseIpv4(text);
  if (v === null) return null;
  // A netmask is ones then zeros: inverting and adding one gives a power of two.
  const inv = ~v >>> 0;
  if ((inv & (inv + 1)) !== 0) return null;
  return ipv4ToString(v);
}

/** Persistence mask in model form from config text; null when it is the host mask. Throws via `fail`. */
export function normaliseMask(text: string, family: 4 | 6, fail: (what: string) => never): string | null {
  const t = text.trim().replace(/^\//, '');
  if (family === 6 || /^\d{1,3}$/.test(t)) {
    if (!/^\d{1,3}$/.test(t)) return fail(`bad IPv6 persistence prefix length "${text}"`);
    const n = Number(t);
    const max = family === 6 ? 128 : 32;
    if (n < 1 || n > max) return fail(`persistence prefix length ${n} out of range 1..${max}`);
    if (family === 6) return n === 128 ? null : String(n);
    // A prefix length given for IPv4 (keepalived accepts it): store as dotted mask like ipvsadm prints.
    const m = n === 32 ? 0xffffffff : (~0 << (32 - n)) >>> 0;
    return n === 32 ? null : ipv4ToString(m);
  }
  const m = canonicalV4Mask(t);
  if (m === null) return fail(`bad persistence netmask "${text}"`);
  return m === '255.255.255.255' ? null : m;
}

// ---------------------------------------------------------------------------------------------
// Building and finishing services (shared by all parsers)

export function newService(init: {
  protocol: Protocol;
  vip: string;
  vport: number;
  family: 4 | 6;
  fwmark?: number;
  source: SourceRef;
}): Service {
  const s: Service = {
    protocol: init.protocol,
    vip: init.vip,
    vport: init.vport,
    family: init.family,
    scheduler: 'wlc',
    schedFlags: [],
    persistenceTimeout: null,
    persistenceMask: null,
    method: null,
    realServers: [],
    localAddresses: [],
    synproxy: false,
    ops: false,
    source: init.source,
  };
  if (init.fwmark !== undefined) s.fwmark = init.fwmark;
  return s;
}

/** The method every real server uses, or null when they differ or there are none. */
export function commonMethod(rs: readonly RealServer[]): ForwardMethod | null {
  if (rs.length === 0) return null;
  const m = rs[0]!.method;
  return rs.every((r) => r.method === m) ? m : null;
}

/** Key that identifies a service in a set (ipvsadm's own identity: proto+VIP+port, or fwmark+family). */
export function serviceKey(s: Pick<Service, 'protocol' | 'vip' | 'vport' | 'fwmark' | 'family'>): string {
  return s.fwmark !== undefined ? `fwm:${s.fwmark}:v${s.family}` : `${s.protocol}:${formatHostPort(s.vip, s.vport)}`;
}

// ---------------------------------------------------------------------------------------------
// Lookups

/**
 * The service a packet to ip:port/proto belongs to: an exact match first, then a port-0
 * ("all ports", persistent) service on the same VIP, as IPVS does (ip_vs_service_find).
 * Fwmark services are not found this way (the mark is not in the packet).
 */
export function findService(set: ServiceSet, ip: string, port: number, proto: Protocol): Service | undefined {
  const addr = canonicalIp(ip);
  if (!addr) return undefined;
  let wildcard: Service | undefined;
  for (const s of set.services) {
    if (s.fwmark !== undefined || s.protocol !== proto || s.vip !== addr.ip) continue;
    if (s.vport === port) return s;
    if (s.vport === 0 && !wildcard) wildcard = s;
  }
  return wildcard;
}

/** A real server by address (and port when given), in one service or across a whole set. */
export function findRealServer(
  target: Service | ServiceSet,
  ip: string,
  port?: number,
): { service: Service; realServer: RealServer } | undefined {
  const addr = canonicalIp(ip);
  if (!addr) return undefined;
  const services = 'services' in target ? target.services : [target];
  for (const service of services) {
    for (const realServer of service.realServers) {
      if (realServer.ip === addr.ip && (port === undefined || realServer.port === port)) {
        return { service, realServer };
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Output

const METHOD_NAME: Record<ForwardMethod, string> = { nat: 'NAT', dr: 'DR', tun: 'TUN', fullnat: 'FNAT' };

/** Plain object for reports (a deep copy: no shared arrays, no undefined-valued keys). */
export function serviceToJSON(s: Service): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}

export function serviceSetToJSON(set: ServiceSet): Record<string, unknown> {
  return { format: set.format, services: set.services.map(serviceToJSON), notes: [...set.notes] };
}

/** Every address the services involve (VIPs, real servers, local addresses): a packet that
 *  names none of them, and no service port, is not the services' (verify keeps and splits by it). */
export function serviceAddresses(services: readonly Service[]): Set<string> {
  const a = new Set<string>();
  for (const s of services) {
    if (s.vip) a.add(s.vip);
    for (const r of s.realServers) a.add(r.ip);
    for (const l of s.localAddresses) a.add(l);
  }
  return a;
}

/** Service ports (VIP ports and RS ports; 0, any port, is none): a director forwarding to an
 *  unconfigured server still uses one of them, and that packet must be kept to be reported
 *  (sched.unknown-rs). */
export function servicePorts(services: readonly Service[]): Set<number> {
  const ports = new Set<number>();
  for (const s of services) {
    if (s.vport) ports.add(s.vport);
    for (const r of s.realServers) if (r.port) ports.add(r.port);
  }
  return ports;
}

/** The service's identity as ipvsadm -Ln shows it: `TCP 192.168.0.100:80`, `FWM 1`, `FWM 1 IPv6`. */
export function serviceName(s: Service): string {
  if (s.fwmark !== undefined) return `FWM ${s.fwmark}${s.family === 6 ? ' IPv6' : ''}`;
  return `${s.protocol.toUpperCase()} ${formatHostPort(s.vip, s.vport)}`;
}

/** One human line, e.g. `TCP 192.168.0.100:80 wlc DR → 10.0.0.11:80 w1, 10.0.0.12:80 w3`. */
export function describeService(s: Service): string {
  let out = `${serviceName(s)} ${s.scheduler}`;
  if (s.schedFlags.length) out += ` (${s.schedFlags.join(',')})`;
  if (s.persistenceTimeout !== null) {
    out += ` persistent ${s.persistenceTimeout}`;
    if (s.persistenceMask !== null) out += ` mask ${s.persistenceMask}`;
  }
  if (s.ops) out += ' ops';
  if (s.pe) out += ` pe ${s.pe}`;
  if (s.synproxy) out += ' synproxy';
  if (s.method) out += ` ${METHOD_NAME[s.method]}`;
  if (s.localAddresses.length) out += ` laddr ${s.localAddresses.join(',')}`;
  const rs = s.realServers.map((r) => {
    let t = formatHostPort(r.ip, r.port);
    if (s.method === null) t += ` ${METHOD_NAME[r.method]}`;
    if (r.tunnelType) t += ` ${r.tunnelType}`;
    return `${t} w${r.weight}`;
  });
  out += ` → ${rs.length ? rs.join(', ') : '(no real servers)'}`;
  if (s.sorryServer) out += ` sorry ${formatHostPort(s.sorryServer.ip, s.sorryServer.port)}`;
  return out;
}

/** Whether any service forwards (to any of its real servers) by FullNAT. */
export function anyFullnat(services: readonly Service[]): boolean {
  return services.some((s) => s.method === 'fullnat' || s.realServers.some((r) => r.method === 'fullnat'));
}

export function isFullnat(s: Service): boolean {
  return s.realServers.length > 0 ? s.realServers.every((r) => r.method === 'fullnat') : s.method === 'fullnat';
}
