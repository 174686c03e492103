/**
 * `--gue-port`: the ports reach the decoder of `decode` and of `verify`'s capture readers, so a
 * TUN director that sends GUE on a port of its own (Katran uses 9886) is read as a tunnel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { sampleFile } from '../../src/verify/read/stream.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { runDecode } from '../differential/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-gue-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): string {
  const f = path.join(tmp, 'gue.pcap');
  const w = new PcapWriter({ path: f, linkType: 1, resolution: 'us' });
  const frame = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
    .ipv4({ src: '10.0.0.1', dst: '10.0.0.11' })
    .gue({ dport: 9886 })
    .ipv4({ src: '203.0.113.5', dst: '10.0.0.100' })
    .tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1 })
    .build();
  w.write(frame, 1795699418, 0);
  w.close();
  return f;
}

describe('--gue-port', () => {
  const file = capture();
  it("verify's reader opens GUE on the given port only", async () => {
    const plain = (await sampleFile(file, 0, 10, { offsetNs: 0 })).records;
    const gue = (await sampleFile(file, 0, 10, { offsetNs: 0, guePorts: [9886] })).records;
    expect(plain.map((r) => [r.tunnel, r.proto, r.dport])).toEqual([[null, 'udp', 9886]]);
    expect(gue.map((r) => [r.tunnel, r.proto, r.dport, r.ip.src, r.outer?.dst])).toEqual([['gue', 'tcp', 80, '203.0.113.5', '10.0.0.11']]);
  });
  it('decode takes it repeatably and refuses a value that is not a port', () => {
    const r = runDecode(['--gue-port', '7', '--gue-port', '9886', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(': GUE, IP 203.0.113.5.40000 > 10.0.0.100.80: Flags [S]');
    const bad = runDecode(['--gue-port', '70000', file]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("lvsaudit: --gue-port '70000': not a UDP port (0-65535; repeat the option for more)");
  });
});
