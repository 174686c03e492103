/**
 * Soak: ARP frames with random senders (random IP, random MAC; one in sixteen a claim of the VIP
 * by a random MAC, one in sixteen a who-has for it) through the decoder and the watcher engine,
 * as a live interface would feed them over days. The live heap (measured after a full GC) stays
 * under a fixed bound once the station table is full, and every station dropped at the bound is
 * counted. LVSAUDIT_SOAK_FRAMES sets the length (default 1 M, a short run for CI).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import { frameTimeNs, LinkType, type Frame } from '../../src/decode/frame.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { fillArpRecord, newArpRecord } from '../../src/verify/arp/records.js';
import { ArpWatcher } from '../../src/verify/arp/watch/detector.js';

const FRAMES = Number(process.env.LVSAUDIT_SOAK_FRAMES ?? 1_000_000);
const MAX_STATIONS = 65536;
/** Live heap growth allowed once the table is full: the table (~65 k stations) and the engine's
 *  bounded per-VIP state fit well inside it; a leak of even a few bytes per frame does not. */
const HEAP_BOUND = 48 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('arp --watch engine soak', () => {
  it(`${FRAMES} ARP frames with random senders: heap bounded, drops counted`, async () => {
    const w = new ArpWatcher({ vips: ['10.0.0.100'], directorMacs: ['02:00:00:00:00:0d'], realServers: [] });
    const bytes = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff' })
      .arp({ op: 1, sha: '02:00:00:00:00:01', spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: '10.0.0.254' })
      .build();
    const frame: Frame = { capture: 'soak', frame: 0, buf: bytes, off: 0, caplen: bytes.length, len: bytes.length, tsSec: 1_780_000_000, tsNsec: 0, linkType: LinkType.ETHERNET, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
    const decoder = new Decoder();
    const rec = newArpRecord();
    let x = 0x9e3779b9;
    const rnd = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    let newStations = 0;
    let events = 0;
    let base = 0;
    let peak = -Infinity;
    for (let i = 0; i < FRAMES; i++) {
      const kind = i & 15;
      const a = rnd();
      const b = rnd();
      // sender MAC 02:xx:xx:xx:xx:xx in the Ethernet source and the ARP sha
      bytes.writeUInt32BE(a, 8);
      bytes.writeUInt32BE(a, 24);
      bytes[7] = bytes[23] = b & 0xff;
      if (kind === 0) {
        bytes.writeUInt16BE(2, 20); // reply: VIP is-at random MAC
        bytes.writeUInt32BE(0x0a000064, 28);
        bytes.writeUInt32BE(0x0a0000fe, 38);
      } else if (kind === 1) {
        bytes.writeUInt16BE(1, 20); // who-has VIP
        bytes.writeUInt32BE(b, 28);
        bytes.writeUInt32BE(0x0a000064, 38);
      } else {
        bytes.writeUInt16BE(1, 20); // who-has the router from a random address
        bytes.writeUInt32BE(b, 28);
        bytes.writeUInt32BE(0x0a0000fe, 38);
      }
      frame.frame = i + 1;
      frame.tsNsec += 10_000; // 100 k frames/s
      if (frame.tsNsec >= 1e9) {
        frame.tsSec++;
        frame.tsNsec -= 1e9;
      }
      const p = decoder.decode(frame);
      const ev = w.observe(fillArpRecord(rec, p, 'soak', frameTimeNs(p), i), p.buf, p.off, p.end - p.off);
      events += ev.length;
      for (const e of ev) if (e.kind === 'new-station') newStations++;
      if (i === 2 * MAX_STATIONS) base = liveHeap();
      if (i > 2 * MAX_STATIONS && i % 250_000 === 0) peak = Math.max(peak, liveHeap() - base);
      // Let the test runner's messages through on a long run.
      if (i % 100_000 === 0) await new Promise((r) => setImmediate(r));
    }
    peak = Math.max(peak, liveHeap() - base);
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    console.log(`soak: ${FRAMES} frames, ${events} events, ${w.stations.size} stations, ${w.dropped} dropped; live heap ${mib(base)} MiB when the table was full, ${mib(base + peak)} MiB at its highest after`);
    expect(w.records).toBe(FRAMES);
    expect(w.stations.size).toBe(MAX_STATIONS);
    expect(w.dropped).toBe(newStations - MAX_STATIONS);
    expect(w.dropped).toBeGreaterThan(FRAMES / 2);
    expect(peak).toBeLessThan(HEAP_BOUND);
  }, 600_000);
});
