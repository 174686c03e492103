/**
 * lvsaudit's own filter words (not pcap-filter): they read the decoded Packet view, and like
 * the network-layer words they look at the outer packet and every encapsulated one (or the
 * one stack `depth N` names).
 */
import type { NetLayers, Packet } from '../packet.js';
import type { Pred } from './compile.js';

/** A stack (outer or encapsulated at any depth, or the one of EvalState.depth) satisfies `f`. */
export function eitherStack(f: (n: NetLayers, p: Packet) => boolean): Pred {
  return (s) => {
    const p = s.p;
    const d = s.depth;
    if (d >= 0) {
      if (d > p.depth) return false;
      const n = p.stackAt(d - 1);
      return n.present && f(n, p);
    }
    if (p.net.present && f(p.net, p)) return true;
    for (let i = 0; i < p.depth; i++) {
      const n = p.levels[i]!.net;
      if (n.present && f(n, p)) return true;
    }
    return false;
  };
}

export const TCP_FLAG_WORDS: ReadonlyMap<string, number> = new Map([
  ['fin', 0x001],
  ['syn', 0x002],
  ['rst', 0x004],
  ['ack', 0x010],
]);

export function tcpFlag(bit: number): Pred {
  return eitherStack((n) => n.l4 === 'tcp' && n.tcp.present && (n.tcp.flags & bit) !== 0);
}

/** Any encapsulation level (TUN tunnels and overlays alike). */
export const tunnelPred: Pred = (s) => s.p.depth > 0;
export const truncatedPred: Pred = (s) => s.p.truncated !== null;
export const malformedPred: Pred = (s) => s.p.malformed.present;

function badsum(n: NetLayers): boolean {
  return (
    n.ip.checksumOk === false ||
    (n.l4 === 'tcp' && n.tcp.checksumOk === false) ||
    (n.l4 === 'udp' && n.udp.checksumOk === false) ||
    ((n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.checksumOk === false)
  );
}

export const badsumPred: Pred = eitherStack(badsum);

const hasToa = (n: NetLayers): boolean => n.l4 === 'tcp' && n.tcp.present && n.tcp.toaKind !== 0;

function match6(buf: Uint8Array, off: number, want: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== want[i]) return false;
  return true;
}

/** `toa`, `toa host A`, `toa port N`: a TCP segment carrying a TOA option (of the --toa-kind kinds). */
export function toaPred(host: { family: 4; addr: number } | { family: 6; bytes: Uint8Array } | null, port: number | null): Pred {
  if (host !== null) {
    return eitherStack((n, p) => {
      if (!hasToa(n)) return false;
      const t = n.tcp;
      if (host.family === 4) return t.toaFamily === 4 && t.toaAddr4 === host.addr;
      return t.toaFamily === 6 && match6(p.buf, t.toaAddrOff, host.bytes);
    });
  }
  if (port !== null) return eitherStack((n) => hasToa(n) && n.tcp.toaPort === port);
  return eitherStack(hasToa);
}

const hasUoa = (n: NetLayers): boolean => n.uoa.mode !== 0;

/** `uoa`, `uoa host A`, `uoa port N`: a packet carrying DPVS's UOA (IPv4 option or protocol-248
 *  shim), or one naming that client address / port. */
export function uoaPred(host: { family: 4; addr: number } | { family: 6; bytes: Uint8Array } | null, port: number | null): Pred {
  if (host !== null) {
    return eitherStack((n, p) => {
      const u = n.uoa;
      if (u.mode === 0 || u.optOff < 0) return false;
      if (host.family === 4) return u.family === 4 && u.addr4 === host.addr;
      return u.family === 6 && match6(p.buf, u.addrOff, host.bytes);
    });
  }
  if (port !== null) return eitherStack((n) => hasUoa(n) && n.uoa.optOff >= 0 && n.uoa.port === port);
  return eitherStack(hasUoa);
}
