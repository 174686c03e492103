/** TCP flags and options: encoding for the builder and short option text for describe(). */
import type { TcpOption } from './types.js';
import { ipBytes, isIpv6Text } from './addr-bytes.js';

/** Flag letters as tcpdump/scapy use them, with their bit. */
const FLAG_BITS: Record<string, number> = { F: 0x001, S: 0x002, R: 0x004, P: 0x008, A: 0x010, U: 0x020, E: 0x040, C: 0x080, N: 0x100 };

export function parseTcpFlags(flags: string | number): number {
  if (typeof flags === 'number') {
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x1ff) throw new RangeError(`TCP flags out of range: ${flags}`);
    return flags;
  }
  let v = 0;
  for (const ch of flags.toUpperCase()) {
    if (ch === '.') {
      v |= FLAG_BITS.A!; // tcpdump writes ACK as '.'
      continue;
    }
    const bit = FLAG_BITS[ch];
    if (bit === undefined) throw new TypeError(`unknown TCP flag letter '${ch}' in '${flags}'`);
    v |= bit;
  }
  return v;
}

/** Default TOA kind by the carried address family (Alibaba: 254 for IPv4, 253 for IPv6; §2.3). */
export function defaultToaKind(addr: string): number {
  return isIpv6Text(addr) ? 253 : 254;
}

function u16(v: number): number[] {
  return [(v >>> 8) & 255, v & 255];
}
function u32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

/** Encodes one option exactly as written (no padding). */
export function encodeTcpOption(o: TcpOption): Buffer {
  switch (o.kind) {
    case 'eol':
      return Buffer.from([0]);
    case 'nop':
      return Buffer.from([1]);
    case 'mss':
      return Buffer.from([2, 4, ...u16(o.value)]);
    case 'ws':
      return Buffer.from([3, 3, o.shift & 255]);
    case 'sackPermitted':
      return Buffer.from([4, 2]);
    case 'sack': {
      const bytes = [5, 2 + 8 * o.blocks.length];
      for (const [l, r] of o.blocks) bytes.push(...u32(l), ...u32(r));
      return Buffer.from(bytes);
    }
    case 'ts':
      return Buffer.from([8, 10, ...u32(o.val), ...u32(o.ecr)]);
    case 'toa': {
      const addr = ipBytes(o.addr);
      const len = o.len ?? 4 + addr.length;
      return Buffer.concat([Buffer.from([o.optKind ?? defaultToaKind(o.addr), len & 255, ...u16(o.port)]), addr]);
    }
    case 'exp': {
      const data = o.data ?? Buffer.alloc(0);
      return Buffer.concat([Buffer.from([o.optKind, 4 + data.length, ...u16(o.exid)]), data]);
    }
    case 'raw':
      return Buffer.concat([Buffer.from([o.optKind & 255, (o.len ?? 2 + o.data.length) & 255]), o.data]);
  }
}

/** Option bytes, padded to a multiple of 4 as asked. */
export function encodeTcpOptions(opts: readonly TcpOption[], pad: 'eol' | 'nop' | 'none'): Buffer {
  const parts = opts.map(encodeTcpOption);
  let len = parts.reduce((n, p) => n + p.length, 0);
  if (pad !== 'none') {
    const fill = (4 - (len % 4)) % 4;
    // EOL padding: one EOL then zeros (all zero bytes); NOP padding: kind 1 bytes.
    if (fill > 0) parts.push(Buffer.alloc(fill, pad === 'nop' ? 1 : 0));
    len += fill;
  }
  return Buffer.concat(parts, len);
}

/** tcpdump-like text of one option. */
export function describeTcpOption(o: TcpOption): string {
  switch (o.kind) {
    case 'eol':
      return 'eol';
    case 'nop':
      return 'nop';
    case 'mss':
      return `mss ${o.value}`;
    case 'ws':
      return `wscale ${o.shift}`;
    case 'sackPermitted':
      return 'sackOK';
    case 'sack':
      return `sack ${o.blocks.length} ${o.blocks.map(([l, r]) => `{${l >>> 0}:${r >>> 0}}`).join('')}`;
    case 'ts':
      return `TS val ${o.val >>> 0} ecr ${o.ecr >>> 0}`;
    case 'toa': {
      const kind = o.optKind ?? defaultToaKind(o.addr);
      const tag = kind === defaultToaKind(o.addr) ? 'toa' : `toa/${kind}`;
      const where = isIpv6Text(o.addr) ? `[${o.addr}]:${o.port}` : `${o.addr}:${o.port}`;
      return o.len === undefined ? `${tag} ${where}` : `${tag} ${where} len ${o.len}`;
    }
    case 'exp':
      return `exp-${o.optKind} 0x${o.exid.toString(16).padStart(4, '0')}`;
    case 'raw':
      return `opt-${o.optKind} len ${o.len ?? 2 + o.data.length}`;
  }
}
