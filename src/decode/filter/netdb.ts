/**
 * Host and port names as tcpdump takes them in a filter (`port http`, `host localhost`), from
 * /etc/services and /etc/hosts, read once (on the first name a filter uses) and kept.
 *
 * libpcap (1.10) asks the resolver: a port name is looked up for TCP and for UDP (SCTP-only
 * entries are not seen); names are case-sensitive. A host name gets every address it has,
 * IPv4 and IPv6. lvsaudit reads the files only: a name that only DNS knows is unknown here.
 */
import { readFileSync } from 'node:fs';
import { parseIpv4, parseIpv6 } from '../addr.js';

/** What `port NAME` means: libpcap's port and "real protocol". */
export interface ServicePort {
  port: number;
  /** 'tcp' or 'udp' when only that protocol has the name (or the two disagree: TCP wins,
   *  as in libpcap); 'any' when both have it at the same port. */
  proto: 'tcp' | 'udp' | 'any';
}

export interface HostAddresses {
  /** IPv4 addresses as uint32, in file order. */
  v4: number[];
  v6: Uint8Array[];
}

interface ServiceEntry {
  tcp: number;
  udp: number;
}

/** /etc/services text → name (and alias) → first TCP and first UDP port. */
export function parseServices(text: string): Map<string, ServiceEntry> {
  const out = new Map<string, ServiceEntry>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(words[1] ?? '');
    if (m === null) continue;
    const port = Number(m[1]);
    const proto = m[2]!.toLowerCase();
    if (port > 65535 || (proto !== 'tcp' && proto !== 'udp')) continue;
    for (const name of [words[0]!, ...words.slice(2)]) {
      let e = out.get(name);
      if (e === undefined) out.set(name, (e = { tcp: -1, udp: -1 }));
      // The first line for a name and protocol is the one the resolver returns.
      if (proto === 'tcp' && e.tcp < 0) e.tcp = port;
      if (proto === 'udp' && e.udp < 0) e.udp = port;
    }
  }
  return out;
}

/** /etc/hosts text → lower-cased name (and alias) → its addresses. */
export function parseHosts(text: string): Map<string, HostAddresses> {
  const out = new Map<string, HostAddresses>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [addr, ...names] = line.split(/\s+/);
    const v4 = parseIpv4(addr!);
    const v6 = v4 === null ? parseIpv6(addr!.replace(/%.*$/, '')) : null;
    if (v4 === null && v6 === null) continue;
    for (const n of names) {
      const key = n.toLowerCase();
      let e = out.get(key);
      if (e === undefined) out.set(key, (e = { v4: [], v6: [] }));
      if (v4 !== null) {
        if (!e.v4.includes(v4 >>> 0)) e.v4.push(v4 >>> 0);
      } else if (!e.v6.some((b) => Buffer.compare(b, v6!) === 0)) e.v6.push(v6!);
    }
  }
  return out;
}

/** libpcap's pcap_nametoport over a parsed services table. */
export function servicePort(db: ReadonlyMap<string, ServiceEntry>, name: string): ServicePort | null {
  const e = db.get(name);
  if (e === undefined) return null;
  if (e.tcp >= 0) return { port: e.tcp, proto: e.udp === e.tcp ? 'any' : 'tcp' };
  if (e.udp >= 0) return { port: e.udp, proto: 'udp' };
  return null;
}

/** Where the tables are read from; tests point them at their own files. */
export const NAME_FILES = { services: '/etc/services', hosts: '/etc/hosts' };

let services: Map<string, ServiceEntry> | null = null;
let hosts: Map<string, HostAddresses> | null = null;

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** `port NAME`: null when /etc/services has no TCP or UDP entry for it. */
export function lookupPort(name: string): ServicePort | null {
  services ??= parseServices(readOrEmpty(NAME_FILES.services));
  return servicePort(services, name);
}

/** `host NAME`: null when /etc/hosts does not list it. */
export function lookupHost(name: string): HostAddresses | null {
  hosts ??= parseHosts(readOrEmpty(NAME_FILES.hosts));
  return hosts.get(name.toLowerCase()) ?? null;
}

/** Forgets the tables read (tests that change NAME_FILES). */
export function forgetNameTables(): void {
  services = null;
  hosts = null;
}
