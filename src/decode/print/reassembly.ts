/**
 * What `decode --reassemble` adds to the output (docs/cli.md "Fragment reassembly"):
 * on the frame that completes a datagram, the datagram's transport (JSON: the `tcp` / `udp` /
 * `icmp` member the fragment itself lacks, or the `tunnel` and `inner` of a tunnel packet, and
 * `reassembled`; text: a bracketed tail), and at
 * the end of each capture one line or record per datagram that was not reassembled.
 */
import type { NetLayers, Packet } from '../packet.js';
import type { DatagramReport, Reassembled } from '../reassembly/reassembler.js';
import { icmpJsonOpen } from './icmp.js';
import { netText, stackJson } from './stack.js';
import { tcpJson } from './tcp.js';
import { udpJson } from './udp.js';
import { litw, type ByteSink } from './sink.js';

const K_TCP = litw('"tcp":');
const K_UDP = litw('"udp":');
const K_INNER = litw(',"inner":{');
const K_TUNNEL = litw('"tunnel":"');
const K_TUNNEL_INNER = litw('","inner":{');
const K_REASM = litw('"reassembled":{"frames":[');
const K_LENGTH = litw('],"length":');
const K_DUPS = litw('],"duplicates":[');
const K_CAPTURED = litw(',"captured":');
const K_PROTO = litw(',"proto":');
const K_SUM = litw(',"checksumOk":');

function quotedOf(n: NetLayers, p: Packet): NetLayers | null {
  return (n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.hasQuoted && p.quoted.present ? p.quoted : null;
}

/** The transport a stack decoded, or null. */
function hasTransport(n: NetLayers): boolean {
  return (n.l4 === 'tcp' && n.tcp.present) || (n.l4 === 'udp' && n.udp.present) ||
    ((n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.present);
}

/** The L4 checksum verdict of the whole datagram (null when not verifiable). */
function checksumOf(n: NetLayers): boolean | null {
  if (n.l4 === 'tcp' && n.tcp.present) return n.tcp.checksumOk;
  if (n.l4 === 'udp' && n.udp.present) return n.udp.checksumOk;
  if ((n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.present) return n.icmp.checksumOk;
  return null;
}

/**
 * JSON members for the frame that completed `d`, each followed by a comma: the datagram's
 * transport member when the frame has none of its own (a first fragment that arrives last keeps
 * its own header, which is the same bytes), then `reassembled`.
 */
export function reassembledJson(o: ByteSink, p: Packet, d: Reassembled): void {
  const r = d.packet;
  const n = r.net;
  o.reserve(96 + 12 * (d.frames.length + d.duplicates.length));
  if (!hasTransport(p.net) && hasTransport(n)) {
    switch (n.l4) {
      case 'tcp':
        o.pos = K_TCP(o.buf, o.pos);
        tcpJson(o, n.tcp, r.buf);
        break;
      case 'udp':
        o.pos = K_UDP(o.buf, o.pos);
        udpJson(o, n.udp);
        break;
      default: {
        o.ascii(n.l4 === 'icmp' ? '"icmp":' : '"icmpv6":');
        icmpJsonOpen(o, n.icmp);
        const quoted = quotedOf(n, r);
        if (quoted !== null) {
          o.pos = K_INNER(o.buf, o.pos);
          stackJson(o, quoted, r, null);
          o.byte(125);
        }
        o.byte(125);
      }
    }
    o.byte(44);
  }
  if (r.tunnel !== null && p.tunnel === null) {
    // A fragmented tunnel packet (a TUN director's IPIP leg cut by the path MTU): the packet it
    // carries, as an unfragmented one would show it.
    o.pos = K_TUNNEL(o.buf, o.pos);
    o.ascii(r.tunnel);
    if (r.inner.present) {
      o.pos = K_TUNNEL_INNER(o.buf, o.pos);
      stackJson(o, r.inner, r, quotedOf(r.inner, r));
      o.byte(125);
    } else o.byte(34);
    o.byte(44);
  }
  o.pos = K_REASM(o.buf, o.pos);
  for (let i = 0; i < d.frames.length; i++) {
    if (i > 0) o.byte(44);
    o.uint(d.frames[i]!);
  }
  if (d.duplicates.length > 0) {
    o.pos = K_DUPS(o.buf, o.pos);
    for (let i = 0; i < d.duplicates.length; i++) {
      if (i > 0) o.byte(44);
      o.uint(d.duplicates[i]!);
    }
  }
  o.pos = K_LENGTH(o.buf, o.pos);
  o.uint(d.length);
  o.pos = K_CAPTURED(o.buf, o.pos);
  o.uint(d.captured);
  o.pos = K_PROTO(o.buf, o.pos);
  o.uint(n.ip.proto);
  o.pos = K_SUM(o.buf, o.pos);
  o.bool(checksumOf(n));
  o.byte(125);
  o.byte(44);
}

/** ` [reassembled from frames 1,2,3 (N bytes): IP a.p > b.q: UDP, length M, ttl …]` */
export function reassembledText(d: Reassembled): string {
  const r = d.packet;
  const cut = d.captured < d.length ? ', ' + d.captured + ' captured' : '';
  const dups = d.duplicates.length > 0 ? ', duplicates ' + d.duplicates.join(',') : '';
  return ' [reassembled from frames ' + d.frames.join(',') + dups + ' (' + d.length + ' bytes' + cut + '): ' +
    netText(r) + (r.truncated !== null ? ' [|' + r.truncated + ']' : '') + ']';
}

const REASON_TEXT: Record<DatagramReport['reason'], string> = {
  overlap: 'dropped: overlapping fragments',
  length: 'dropped: fragments disagree on the datagram length',
  oversize: 'dropped: longer than 65535 bytes',
  timeout: 'dropped: not complete within 30 s',
  cap: 'fragment refused: reassembly memory cap',
  incomplete: 'incomplete at the end of the capture',
};

function what(r: DatagramReport): string {
  const proto = r.proto >= 0 ? ' proto ' + r.proto : '';
  return (r.version === 4 ? 'IP ' : 'IP6 ') + r.src + ' > ' + r.dst + ' id ' + r.id + proto;
}

/** One text line for a datagram that was not reassembled. */
export function reportText(r: DatagramReport, timeoutSec: number): string {
  const reason = r.reason === 'timeout' ? 'dropped: not complete within ' + timeoutSec + ' s' : REASON_TEXT[r.reason];
  const at = r.at >= 0 ? ' at frame ' + r.at : '';
  const frames = r.frames.length > 0 ? ', frames ' + r.frames.join(',') : '';
  return r.capture + ': reassembly: ' + what(r) + ': ' + reason + at + frames + ', ' + r.have + ' of ' +
    (r.length >= 0 ? String(r.length) : '?') + ' data bytes';
}

/** One NDJSON record for a datagram that was not reassembled. */
export function reportJson(r: DatagramReport): string {
  return JSON.stringify({
    capture: r.capture,
    reassembly: {
      result: r.reason === 'incomplete' ? 'incomplete' : r.reason === 'cap' ? 'refused' : 'dropped',
      reason: r.reason, ip: r.version, src: r.src, dst: r.dst, id: r.id, proto: r.proto >= 0 ? r.proto : null,
      frames: r.frames, at: r.at >= 0 ? r.at : null, have: r.have, length: r.length >= 0 ? r.length : null,
    },
  });
}
