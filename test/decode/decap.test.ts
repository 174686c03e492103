/**
 * Looking through a mirror (DecodeOptions.decap, src/decode/decap.ts): a frame whose outermost
 * level carries an Ethernet frame (ERSPAN, VXLAN, Geneve, GRE TEB) decodes, with decap on, as
 * that carried frame decoded alone — its MACs, IP stacks, tunnel levels (IPIP inside VXLAN stays
 * the TUN level) — and says what it removed; every other frame (the TUN kinds, MPLS, GRE
 * carrying IP) decodes exactly as without decap. Auto keeps an overlay sent to a service
 * address; a forced list removes only its kinds; `--decap` values parse or are refused.
 */
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { mirrorKindOf, parseDecap } from '../../src/decode/decap.js';
import { LinkType } from '../../src/decode/frame.js';
import type { DecapOptions, NetLayers, Packet } from '../../src/decode/packet.js';
import { encapFixtures } from '../differential/encap-fixtures.js';

const AUTO: DecapOptions = { kinds: 'auto', keepTo: [], vxlanPorts: [], genevePorts: [] };

/** What verify reads of a packet, with offsets taken from `base` (the carried frame's start). */
function viewOf(p: Packet, base: number): unknown {
  const stack = (n: NetLayers): unknown =>
    n.present
      ? { v: n.ip.version, src: p.buf.subarray(n.ip.srcOff, n.ip.srcOff + (n.ip.version === 4 ? 4 : 16)).toString('hex'), dst: p.buf.subarray(n.ip.dstOff, n.ip.dstOff + (n.ip.version === 4 ? 4 : 16)).toString('hex'), ttl: n.ip.ttl, id: n.ip.id, l4: n.l4, sport: n.l4 === 'tcp' ? n.tcp.sport : n.l4 === 'udp' ? n.udp.sport : null, ipAt: n.ip.off - base }
      : null;
  return {
    eth: p.eth.present ? p.buf.subarray(p.eth.off, p.eth.off + 12).toString('hex') : null,
    vlans: Array.from(p.vlan.id.subarray(0, p.vlan.count)),
    net: stack(p.net),
    tunnel: p.tunnel,
    levels: p.levels.slice(0, p.depth).map((l) => [l.kind, stack(l.net)]),
    transport: stack(p.transport),
    malformed: p.malformed.present,
    truncated: p.truncated,
  };
}

describe('decap: a mirror-wrapped frame decodes as the frame it carries', () => {
  const fixtures = encapFixtures();

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const plain = decodeBytes(f.frame, LinkType.ETHERNET);
    const lv = plain.levels[0];
    const kind = plain.depth > 0 ? mirrorKindOf(lv!) : null;
    const plainView = viewOf(plain, 0);
    const ethOff = kind !== null ? lv!.eth.off : -1;
    const session = kind !== null ? lv!.vni : -1;
    const levelKind = kind !== null ? lv!.kind : null;
    const unwrapped = decodeBytes(f.frame, LinkType.ETHERNET, { decap: AUTO });
    if (kind === null) {
      expect(unwrapped.mirror.count).toBe(0);
      expect(viewOf(unwrapped, 0)).toEqual(plainView);
      return;
    }
    expect(unwrapped.mirror.count).toBe(1);
    expect(unwrapped.mirror.kind).toBe(levelKind);
    if (levelKind === 'erspan2' || levelKind === 'erspan3' || levelKind === 'vxlan' || levelKind === 'geneve') expect(unwrapped.mirror.session).toBe(session);
    const alone = decodeBytes(f.frame.subarray(ethOff), LinkType.ETHERNET);
    expect(viewOf(unwrapped, ethOff)).toEqual(viewOf(alone, 0));
  });

  it('covers ERSPAN II and III, VXLAN, Geneve, GRE TEB and IPIP inside VXLAN', () => {
    const removed = fixtures.filter((f) => decodeBytes(f.frame, LinkType.ETHERNET, { decap: AUTO }).mirror.count > 0).map((f) => f.name);
    expect(removed.length).toBeGreaterThanOrEqual(6);
    const tunInVxlan = fixtures.find((f) => f.name.startsWith('IPIP inside VXLAN'))!;
    const p = decodeBytes(tunInVxlan.frame, LinkType.ETHERNET, { decap: AUTO });
    expect(p.tunnel).toBe('ipip');
    expect(p.transport.tcp.sport).toBe(4006);
  });

  it('auto keeps an overlay sent to a service address; a forced kind is removed whatever the destination', () => {
    const vx = encapFixtures().find((f) => f.name.startsWith('VXLAN'))!;
    // Its outer destination is 10.0.0.11.
    expect(decodeBytes(vx.frame, LinkType.ETHERNET, { decap: { ...AUTO, keepTo: ['10.0.0.11'] } }).mirror.count).toBe(0);
    expect(decodeBytes(vx.frame, LinkType.ETHERNET, { decap: { ...AUTO, keepTo: ['10.0.0.12'] } }).mirror.count).toBe(1);
    expect(decodeBytes(vx.frame, LinkType.ETHERNET, { decap: { kinds: ['vxlan'], keepTo: ['10.0.0.11'], vxlanPorts: [], genevePorts: [] } }).mirror.count).toBe(1);
    expect(decodeBytes(vx.frame, LinkType.ETHERNET, { decap: { kinds: ['erspan'], keepTo: [], vxlanPorts: [], genevePorts: [] } }).mirror.count).toBe(0);
  });

  it('removes mirrors nested in mirrors, outermost first', () => {
    const vx = encapFixtures().find((f) => f.name.startsWith('VXLAN'))!;
    const span = encapFixtures().find((f) => f.name === 'ERSPAN type II')!;
    // The VXLAN fixture's frame mirrored again in ERSPAN II: the ERSPAN header and the frame.
    const ethAt = decodeBytes(span.frame, LinkType.ETHERNET).levels[0]!.eth.off;
    const twice = Buffer.concat([span.frame.subarray(0, ethAt), vx.frame]);
    // Fix the outer IPv4 total length and checksum for the longer payload.
    twice.writeUInt16BE(twice.length - 14, 16);
    twice.writeUInt16BE(0, 24);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += twice.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    twice.writeUInt16BE(~sum & 0xffff, 24);
    const p = decodeBytes(twice, LinkType.ETHERNET, { decap: AUTO });
    expect(p.mirror.count).toBe(2);
    expect(p.mirror.kind).toBe('erspan2');
    const innermost = decodeBytes(vx.frame, LinkType.ETHERNET, { decap: AUTO });
    expect(viewOf(p, ethAt)).toEqual(viewOf(innermost, 0));
  });
});

describe('--decap values', () => {
  it('none, auto, kinds and ports', () => {
    expect(parseDecap([], ['10.0.0.1'])).toEqual({ kinds: 'auto', keepTo: ['10.0.0.1'], vxlanPorts: [], genevePorts: [] });
    expect(parseDecap(['none'], [])).toBeNull();
    expect(parseDecap(['auto'], [])).toEqual(AUTO);
    expect(parseDecap(['erspan', 'vxlan:8472', 'geneve:6082', 'vxlan'], [])).toEqual({ kinds: ['erspan', 'vxlan', 'geneve'], keepTo: [], vxlanPorts: [8472], genevePorts: [6082] });
  });

  it.each([['gre'], ['vxlan:0'], ['vxlan:65536'], ['erspan:4789'], ['vxlan:1:2'], ['auto', 'vxlan'], ['none', 'erspan']])('refuses %s', (...values: string[]) => {
    const r = parseDecap(values, []);
    expect(typeof r).toBe('string');
    expect(r as string).toMatch(/^--decap /);
  });
});
