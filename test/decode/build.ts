/**
 * Hand-assembly of test packets from their RFC layouts. Checksums are computed here with a
 * deliberately different method from src/decode/checksum.ts (byte-wise, mod 0xffff
 * arithmetic) so the decoder's verdicts are checked against an independent oracle.
 */

export function refChecksum(...parts: Uint8Array[]): number {
  const bytes: number[] = [];
  for (const p of parts) for (const b of p) bytes.push(b);
  if (bytes.length % 2) bytes.push(0);
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += bytes[i]! * 256 + bytes[i + 1]!;
  // One's complement sum == sum mod 0xffff (with 0xffff for a non-zero multiple).
  let r = s % 0xffff;
  if (r === 0 && s !== 0) r = 0xffff;
  return 0xffff - r;
}

export const ip4 = (s: string): number[] => s.split('.').map(Number);

export function ip6(s: string): number[] {
  const [h, t] = s.split('::') as [string, string | undefined];
  const hw = h ? h.split(':') : [];
  const tw = t !== undefined && t !== '' ? t.split(':') : [];
  const fill = s.includes('::') ? 8 - hw.length - tw.length : 0;
  const words = [...hw, ...Array<string>(fill).fill('0'), ...tw].map((w) => parseInt(w, 16));
  return words.flatMap((w) => [w >> 8, w & 255]);
}

const u16 = (v: number): number[] => [(v >> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

export function eth(type: number, payload: number[], vlans: Array<[number, number]> = []): number[] {
  const out = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
  for (const [tpid, tci] of vlans) out.push(...u16(tpid), ...u16(tci));
  return [...out, ...u16(type), ...payload];
}

export interface Ip4Opts {
  src?: string;
  dst?: string;
  proto: number;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset8?: number;
  options?: number[];
  tos?: number;
  badChecksum?: boolean;
  totLen?: number;
}

export function ipv4(o: Ip4Opts, payload: number[]): number[] {
  const opts = o.options ?? [];
  const ihl = 5 + opts.length / 4;
  const tot = o.totLen ?? ihl * 4 + payload.length;
  const frag = (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.fragOffset8 ?? 0);
  const h = [0x40 | ihl, o.tos ?? 0, ...u16(tot), ...u16(o.id ?? 0x1234), ...u16(frag), o.ttl ?? 64, o.proto, 0, 0,
    ...ip4(o.src ?? '10.0.0.1'), ...ip4(o.dst ?? '10.0.0.2'), ...opts];
  let c = refChecksum(Uint8Array.from(h));
  if (o.badChecksum) c ^= 0x5555;
  h[10] = c >> 8;
  h[11] = c & 255;
  return [...h, ...payload];
}

export function ipv6(o: { src?: string; dst?: string; nh: number; hlim?: number; flow?: number; tc?: number; plen?: number }, payload: number[]): number[] {
  const tc = o.tc ?? 0;
  const fl = o.flow ?? 0;
  return [0x60 | (tc >> 4), ((tc & 15) << 4) | (fl >> 16), (fl >> 8) & 255, fl & 255, ...u16(o.plen ?? payload.length), o.nh, o.hlim ?? 64,
    ...ip6(o.src ?? '2001:db8::1'), ...ip6(o.dst ?? '2001:db8::2'), ...payload];
}

/** Pseudo-header bytes for L4 checksums. */
export function pseudo4(src: string, dst: string, proto: number, len: number): Uint8Array {
  return Uint8Array.from([...ip4(src), ...ip4(dst), 0, proto, ...u16(len)]);
}
export function pseudo6(src: string, dst: string, nh: number, len: number): Uint8Array {
  return Uint8Array.from([...ip6(src), ...ip6(dst), ...u32(len), 0, 0, 0, nh]);
}

export interface TcpOpts {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  win?: number;
  options?: number[];
  payload?: number[];
  doff?: number;
}

/** TCP segment; pass `pseudo` to fill a correct checksum (else 0). */
export function tcp(o: TcpOpts, pseudo?: (len: number) => Uint8Array): number[] {
  const opts = o.options ?? [];
  const doff = o.doff ?? 5 + Math.ceil(opts.length / 4);
  const padded = [...opts];
  while (padded.length % 4) padded.push(0);
  const flags = o.flags ?? 0x02;
  const seg = [...u16(o.sport ?? 40000), ...u16(o.dport ?? 80), ...u32(o.seq ?? 1000), ...u32(o.ack ?? 0),
    (doff << 4) | ((flags >> 8) & 1), flags & 255, ...u16(o.win ?? 65535), 0, 0, 0, 0, ...padded, ...(o.payload ?? [])];
  if (pseudo) {
    const c = refChecksum(pseudo(seg.length), Uint8Array.from(seg));
    seg[16] = c >> 8;
    seg[17] = c & 255;
  }
  return seg;
}

export function udp(sport: number, dport: number, payload: number[], pseudo?: (len: number) => Uint8Array): number[] {
  const len = 8 + payload.length;
  const d = [...u16(sport), ...u16(dport), ...u16(len), 0, 0, ...payload];
  if (pseudo) {
    let c = refChecksum(pseudo(len), Uint8Array.from(d));
    if (c === 0) c = 0xffff;
    d[6] = c >> 8;
    d[7] = c & 255;
  }
  return d;
}

export function icmp(type: number, code: number, rest: number[], body: number[], pseudo?: Uint8Array): number[] {
  const m = [type, code, 0, 0, ...rest, ...body];
  const c = pseudo ? refChecksum(pseudo, Uint8Array.from(m)) : refChecksum(Uint8Array.from(m));
  m[2] = c >> 8;
  m[3] = c & 255;
  return m;
}

export { u16, u32 };
