/** Small helpers of the ARP tests: run the engine over capture files the way the CLI does. */
import path from 'node:path';
import { forEachPacket } from '../../src/decode/stream.js';
import { ArpAnalyzer, type ArpContext, type ArpReport } from '../../src/verify/arp/index.js';
import type { Finding } from '../../src/verify/model/findings.js';
import { fixtureDir } from './fixture-gen.js';

export const fixture = (name: string): string => path.join(fixtureDir, `${name}.pcap`);

/** Each capture is [file, point]; a bare file is a "client" capture. */
export async function analyze(captures: Array<string | [string, string]>, ctx: ArpContext = {}): Promise<ArpReport> {
  const a = new ArpAnalyzer(ctx);
  for (const c of captures) {
    const [file, point] = typeof c === 'string' ? [c, 'client'] : c;
    await forEachPacket(file, (p) => a.observe(p, point));
  }
  return a.finish();
}

export const rulesOf = (r: ArpReport): string[] => r.findings.map((f) => f.rule).sort();
export const only = (r: ArpReport, rule: string): Finding[] => r.findings.filter((f) => f.rule === rule);
export const frames = (f: Finding): number[] => f.evidence.map((e) => e.frame);
