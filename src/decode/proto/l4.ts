/** Dispatch on the IP protocol / IPv6 upper-layer next header. */
import { IpProto, type NetLayers } from '../packet.js';
import { M_TUNNEL, type DecodeCtx } from './context.js';
import { decodeIcmp } from './icmp.js';
import { decodeTcp } from './tcp.js';
import { decodeGre, decodeIpInIp } from './tunnel.js';
import { decodeUdp } from './udp.js';
import { decodeUoaShim } from './uoa.js';

export function decodeL4(ctx: DecodeCtx, L: NetLayers, proto: number, off: number, end: number, mode: number): void {
  switch (proto) {
    case IpProto.TCP:
      decodeTcp(ctx, L, off, end, mode);
      return;
    case IpProto.UDP:
      decodeUdp(ctx, L, off, end, mode);
      return;
    case IpProto.ICMP:
      decodeIcmp(ctx, L, off, end, mode, 4);
      return;
    case IpProto.ICMPV6:
      decodeIcmp(ctx, L, off, end, mode, 6);
      return;
    case IpProto.IPIP:
    case IpProto.IPV6:
      L.l4 = 'other';
      if (mode & M_TUNNEL) decodeIpInIp(ctx, L, proto, off, end, mode);
      return;
    case IpProto.GRE:
      L.l4 = 'other';
      if (mode & M_TUNNEL) decodeGre(ctx, off, end, mode);
      return;
    case IpProto.UOA_SHIM:
      decodeUoaShim(ctx, L, off, end, mode);
      return;
    default:
      L.l4 = 'other';
  }
}
