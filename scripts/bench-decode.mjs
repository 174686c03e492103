#!/usr/bin/env node
/**
 * Decoder micro-benchmark: ~1M synthetic TCP frames (IPv4/IPv6, with and without TOA,
 * timestamps, SACK, VLAN, small payloads) laid out in one in-memory buffer, decoded through
 * one reused Frame and one Decoder, the way the capture reader drives it.
 *
 *   npm run build && node --expose-gc scripts/bench-decode.mjs [frames]
 *
 * Prints packets/s with checksum verification on and off, and heap growth across the timed
 * loop (no GC in between): a figure near zero means decode() allocates nothing per packet.
 */
import { Decoder } from '../dist/decode/decoder.js';

const N = Number(process.argv[2] ?? 1_000_000);

function sum(bytes, init = 0) {
  let s = init;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) s += bytes[bytes.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
const be16 = (v) => [(v >> 8) & 255, v & 255];
const be32 = (v) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

function tcpSeg(src, dst, v6, opts, payloadLen, seq) {
  const optBytes = [...opts];
  while (optBytes.length % 4) optBytes.push(1);
  const doff = 5 + optBytes.length / 4;
  const seg = [...be16(40000 + (seq & 1023)), ...be16(80), ...be32(seq), ...be32(12345), doff << 4, 0x18, ...be16(502), 0, 0, 0, 0, ...optBytes];
  for (let i = 0; i < payloadLen; i++) seg.push((i * 7) & 255);
  const len = seg.length;
  const pseudo = v6 ? [...src, ...dst, ...be32(len), 0, 0, 0, 6] : [...src, ...dst, 0, 6, ...be16(len)];
  const c = sum([...pseudo, ...seg]);
  seg[16] = c >> 8;
  seg[17] = c & 255;
  return seg;
}

function frameBytes(k) {
  const v6 = k % 4 === 3;
  const opts = [];
  if (k % 3 === 0) opts.push(254, 8, ...be16(51000), 203, 0, 113, k & 255); // TOA
  opts.push(1, 1, 8, 10, ...be32(k), ...be32(k + 1)); // timestamps
  if (k % 5 === 0) opts.push(1, 1, 5, 10, ...be32(100), ...be32(200)); // SACK
  const payloadLen = [0, 0, 64, 200, 512][k % 5];
  const src = v6 ? [0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 1] : [10, 0, 0, k & 255];
  const dst = v6 ? [0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 2] : [10, 0, 1, 2];
  const seg = tcpSeg(src, dst, v6, opts, payloadLen, k * 1000);
  let ip;
  if (v6) {
    ip = [0x60, 0, 0, 0, ...be16(seg.length), 6, 64, ...src, ...dst, ...seg];
  } else {
    ip = [0x45, 0, ...be16(20 + seg.length), ...be16(k & 0xffff), 0x40, 0, 64, 6, 0, 0, ...src, ...dst];
    const c = sum(ip);
    ip[10] = c >> 8;
    ip[11] = c & 255;
    ip.push(...seg);
  }
  const vlan = k % 7 === 0 ? [0x81, 0, 0, 100] : [];
  return Buffer.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, ...vlan, ...(v6 ? [0x86, 0xdd] : [0x08, 0x00]), ...ip]);
}

// 60 distinct templates repeated to N frames in one buffer.
const templates = Array.from({ length: 60 }, (_, k) => frameBytes(k));
const offs = new Int32Array(N);
const lens = new Int32Array(N);
let total = 0;
for (let i = 0; i < N; i++) total += templates[i % 60].length;
const big = Buffer.allocUnsafe(total);
let o = 0;
for (let i = 0; i < N; i++) {
  const t = templates[i % 60];
  t.copy(big, o);
  offs[i] = o;
  lens[i] = t.length;
  o += t.length;
}

const frame = { capture: 'bench', frame: 0, buf: big, off: 0, caplen: 0, len: 0, tsSec: 0, tsNsec: 0, linkType: 1, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };

function run(decoder) {
  let toa = 0;
  let bad = 0;
  for (let i = 0; i < N; i++) {
    frame.frame = i + 1;
    frame.off = offs[i];
    frame.caplen = lens[i];
    frame.len = lens[i];
    const p = decoder.decode(frame);
    if (p.net.tcp.toaKind !== 0) toa++;
    if (p.net.tcp.checksumOk === false || p.malformed.present) bad++;
  }
  return { toa, bad };
}

for (const checksums of [true, false]) {
  const d = new Decoder({ checksums });
  run(d); // warm-up (JIT)
  if (global.gc) global.gc();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  const r = run(d);
  const ns = Number(process.hrtime.bigint() - t0);
  const heap1 = process.memoryUsage().heapUsed;
  const pps = N / (ns / 1e9);
  console.log(
    `checksums ${checksums ? 'on ' : 'off'}: ${N} frames (${(total / 1e6).toFixed(0)} MB) in ${(ns / 1e6).toFixed(0)} ms = ` +
      `${(pps / 1e6).toFixed(2)} M packets/s, ${((total / (ns / 1e9)) / 1e6).toFixed(0)} MB/s; ` +
      `TOA ${r.toa}, bad ${r.bad}; heap growth ${((heap1 - heap0) / 1024).toFixed(0)} KiB` +
      (global.gc ? '' : ' (run with --expose-gc for a clean baseline)'),
  );
  if (r.bad !== 0) {
    console.error('unexpected bad checksums or malformed frames in synthetic input');
    process.exitCode = 1;
  }
}
