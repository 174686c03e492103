/**
 * Looking through a capture's transport: a switch or cloud mirror (ERSPAN, VXLAN, Geneve,
 * GRE transparent bridging) delivers each frame it copied inside its own encapsulation to a
 * collector. The frame it carries is the packet at the mirrored point; the wrapper is how it
 * reached the capture. `Unwrapper` decides, per frame whose level 0 carries an Ethernet frame,
 * whether that level is such a transport, and then the frame is decoded again from the
 * carried Ethernet header. Only frames that opened a level reach it.
 */
import { parseIpv4, parseIpv6 } from './addr.js';
import { EtherType, type DecapOptions, type EncapKind, type EncapLevel, type MirrorKind, type Packet } from './packet.js';

/** The mirror kind of a level that carries an Ethernet frame, or null for any other level. */
export function mirrorKindOf(lv: EncapLevel): MirrorKind | null {
  if (!lv.eth.present) return null;
  switch (lv.kind) {
    case 'erspan2':
    case 'erspan3':
      return 'erspan';
    case 'vxlan':
      return 'vxlan';
    case 'geneve':
      return 'geneve';
    case 'gre':
    case 'gre-udp':
      // ERSPAN type I is GRE 0x88be without the ERSPAN header: the frame follows GRE.
      return lv.greProto === EtherType.ERSPAN2 ? 'erspan' : 'teb';
    default:
      return null;
  }
}

export class Unwrapper {
  private readonly auto: boolean;
  private readonly kinds: ReadonlySet<MirrorKind>;
  /** auto: IPv4 destinations (as the uint32 IpView.dst4 holds) and IPv6 ones (16 bytes each)
   *  whose overlay traffic is a service's own, not a mirror's. */
  private readonly keep4: ReadonlySet<number>;
  private readonly keep6: readonly Buffer[];

  constructor(opts: DecapOptions) {
    this.auto = opts.kinds === 'auto';
    this.kinds = new Set(opts.kinds === 'auto' ? [] : opts.kinds);
    const keep4 = new Set<number>();
    const keep6: Buffer[] = [];
    for (const a of opts.keepTo) {
      const v4 = parseIpv4(a);
      if (v4 !== null) keep4.add(v4 >>> 0);
      else {
        const v6 = parseIpv6(a);
        if (v6 !== null) keep6.push(Buffer.from(v6));
      }
    }
    this.keep4 = keep4;
    this.keep6 = keep6;
  }

  /** Level 0's mirror kind when it is a capture transport to remove, else null. */
  removes(p: Packet): MirrorKind | null {
    const lv = p.levels[0]!;
    const kind = mirrorKindOf(lv);
    if (kind === null) return null;
    if (!this.auto) return this.kinds.has(kind) ? kind : null;
    return this.sentToService(p) ? null : kind;
  }

  /** The outer destination is a service address: the overlay is then the service's traffic
   *  (a VTEP behind the director), which the rules judge as it is. */
  private sentToService(p: Packet): boolean {
    const ip = p.net.ip;
    if (ip.version === 4) return this.keep4.has(ip.dst4 >>> 0);
    for (const a of this.keep6) if (p.buf.compare(a, 0, 16, ip.dstOff, ip.dstOff + 16) === 0) return true;
    return false;
  }

  /** Notes in `p.mirror` the transport about to be removed, when it is the outermost. */
  note(p: Packet, type: MirrorKind, count: number): void {
    if (count !== 0) return;
    const lv = p.levels[0]!;
    const m = p.mirror;
    m.kind = lv.kind;
    m.type = type;
    m.session = lv.kind === 'erspan2' || lv.kind === 'erspan3' || lv.kind === 'vxlan' || lv.kind === 'geneve' ? lv.vni : -1;
    m.spanTimestamp = lv.kind === 'erspan3' ? lv.spanIndex : -1;
  }
}

/** How a report names what `mirror` says was removed: `ERSPAN II session 42`, `VXLAN vni 5001`. */
export function mirrorLabel(kind: EncapKind, type: MirrorKind, session: number): string {
  const name =
    kind === 'erspan2' ? 'ERSPAN II' : kind === 'erspan3' ? 'ERSPAN III' : type === 'erspan' ? 'ERSPAN I' : type === 'teb' ? 'GRE TEB' : type === 'vxlan' ? 'VXLAN' : 'Geneve';
  if (session < 0) return name;
  return `${name} ${type === 'erspan' ? 'session' : 'vni'} ${session}`;
}

/** `vxlan`, `geneve`, `erspan`, `teb` or `vxlan:PORT` / `geneve:PORT`, as `--decap` takes them;
 *  `auto` and `none` are the two modes. Returns the options, or an error text. */
export function parseDecap(values: readonly string[], keepTo: readonly string[]): DecapOptions | null | string {
  if (values.length === 0) return { kinds: 'auto', keepTo, vxlanPorts: [], genevePorts: [] };
  if (values.length === 1 && values[0] === 'none') return null;
  if (values.length === 1 && values[0] === 'auto') return { kinds: 'auto', keepTo, vxlanPorts: [], genevePorts: [] };
  const kinds: MirrorKind[] = [];
  const vxlanPorts: number[] = [];
  const genevePorts: number[] = [];
  for (const v of values) {
    if (v === 'auto' || v === 'none') return `--decap ${v} cannot be combined with other --decap values`;
    const [name, port, extra] = v.split(':');
    if (extra !== undefined || (name !== 'erspan' && name !== 'vxlan' && name !== 'geneve' && name !== 'teb')) {
      return `--decap ${v}: expected auto, none, erspan, teb, vxlan[:PORT] or geneve[:PORT]`;
    }
    if (port !== undefined) {
      const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
      if (!(n >= 1 && n <= 65535) || (name !== 'vxlan' && name !== 'geneve')) return `--decap ${v}: a port (1-65535) goes with vxlan or geneve only`;
      (name === 'vxlan' ? vxlanPorts : genevePorts).push(n);
    }
    if (!kinds.includes(name)) kinds.push(name);
  }
  return { kinds, keepTo, vxlanPorts, genevePorts };
}
