/**
 * One reused Decoder must give, for every frame, exactly what a fresh Decoder gives: the
 * decoder resets the tunnel and ICMP-quote stacks only after a packet that used them, so
 * this mixes such packets (and mutated / cut copies) with plain ones in random order and
 * compares the full NDJSON of each packet.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import type { Frame } from '../../src/decode/frame.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { ByteSink } from '../../src/decode/print/sink.js';
import { SEEDS } from './seeds.js';

function json(d: Decoder, f: Frame, printer: JsonPrinter): string {
  const sink = new ByteSink(null, 1 << 16);
  printer.write(d.decode(f), sink);
  const p = d.packet;
  // Fields the JSON does not show but consumers read (offsets such as toaAddrOff are left
  // stale by reset() and meaningful only with their flag, so they are not compared).
  return sink.take() + JSON.stringify([p.net.tcp.toaIndex, p.inner.present, p.quoted.present, p.tunnel, p.net.ip.src4, p.net.icmp.hasQuoted]);
}

const frameArb = fc.record({
  seed: fc.nat(SEEDS.length - 1),
  flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
});

describe('decoder view reuse', () => {
  it('a reused Decoder decodes every frame of a random sequence like a fresh one', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), (list) => {
        const reused = new Decoder({ guePorts: [6080] });
        for (const { seed, flips, cut } of list) {
          const s = SEEDS[seed]!;
          const bytes = Buffer.from(s.bytes);
          for (const [at, v] of flips) bytes[at % bytes.length] = v;
          const caplen = cut === undefined ? bytes.length : cut % (bytes.length + 1);
          const f: Frame = { capture: 'r', frame: 1, buf: bytes, off: 0, caplen, len: bytes.length, tsSec: 1, tsNsec: 0, linkType: s.lt, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
          expect(json(reused, f, new JsonPrinter())).toBe(json(new Decoder({ guePorts: [6080] }), f, new JsonPrinter()));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
