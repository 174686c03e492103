/**
 * What a FullNAT director did to every header field, read by tshark (not the verifier) from a
 * lab's captures: each packet at the client paired with its copy at the real server, in order
 * per connection and direction, reduced to a set of facts per field. Two directors that do the
 * same produce equal summaries (test/lab/dpvs-lab.test.ts compares the reference director with
 * DPVS this way).
 */
import { execFileSync } from 'node:child_process';
import { ADDR } from '../../src/lab/plan.js';
import { tsharkFields } from './oracle.js';

const FIELDS = ['frame.time_epoch', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.flags.df', 'ip.dsfield', 'ip.checksum.status', 'tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.ack', 'tcp.flags', 'tcp.len', 'tcp.window_size_value', 'tcp.option_kind', 'tcp.options.mss_val', 'tcp.options', 'tcp.checksum.status'] as const;
type Field = (typeof FIELDS)[number];
type Pkt = Record<Field, string>;

/** Every TCP packet of a capture, fields as tshark prints them (absolute sequence numbers, checksums validated). */
function packets(file: string): Pkt[] {
  const args = ['-o', 'tcp.relative_sequence_numbers:FALSE', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'];
  return tsharkFieldsWith(file, 'tcp', FIELDS, args).map((r) => Object.fromEntries(FIELDS.map((f, i) => [f, r[i] ?? ''])) as Pkt);
}

/** oracle.ts tsharkFields with tshark preferences (-o) in front. */
function tsharkFieldsWith(file: string, filter: string, fields: readonly string[], prefs: readonly string[]): string[][] {
  const args = ['-n', ...prefs, '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=|'];
  for (const f of fields) args.push('-e', f);
  return execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

const kinds = (p: Pkt): string[] => p['tcp.option_kind'].split(',').filter((k) => k.length > 0);
const u32 = (a: string, b: string): number => (Number(a) - Number(b) + 2 ** 32) % 2 ** 32;

/**
 * A capture's packets without retransmissions (a later copy of the same segment of the same
 * flow): a loaded machine makes a client retransmit a SYN, and a director may forward one copy
 * or both, which says nothing about what it does to a packet's fields.
 */
function firstCopies(ps: readonly Pkt[]): Pkt[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const key = [p['ip.src'], p['tcp.srcport'], p['ip.dst'], p['tcp.dstport'], p['tcp.seq'], p['tcp.flags'], p['tcp.len']].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What a FullNAT director did to the packets of one capture set, as plain facts. */
export function behaviour(captures: Record<string, string>): Record<string, unknown> {
  const client = firstCopies(packets(captures.client!));
  const rs = firstCopies([...packets(captures.rs1!), ...packets(captures.rs2!)].sort((a, b) => Number(a['frame.time_epoch']) - Number(b['frame.time_epoch'])));
  const clientSyns = client.filter((p) => p['tcp.flags'] === '0x0002');
  const rsSyns = rs.filter((p) => p['tcp.flags'] === '0x0002');
  const facts = new Map<string, Set<string>>();
  const note = (k: string, v: unknown): void => {
    if (!facts.has(k)) facts.set(k, new Set());
    facts.get(k)!.add(JSON.stringify(v));
  };
  note('connections', [clientSyns.length, rsSyns.length]);
  clientSyns.forEach((syn, i) => {
    const cport = syn['tcp.srcport'];
    const lsyn = rsSyns[i]!;
    const lport = lsyn['tcp.dstport'] === String(ADDR.natRport) ? lsyn['tcp.srcport'] : '';
    const rip = lsyn['ip.dst'];
    const up = { c: client.filter((p) => p['tcp.srcport'] === cport), r: rs.filter((p) => p['tcp.srcport'] === lport && p['ip.dst'] === rip) };
    const down = { c: client.filter((p) => p['tcp.dstport'] === cport), r: rs.filter((p) => p['tcp.dstport'] === lport && p['ip.src'] === rip) };
    note('packets paired (client→rs, rs→client)', [up.c.length === up.r.length, down.c.length === down.r.length]);
    note('addresses at rs', [up.r[0]!['ip.src'] === ADDR.lip, Number(lport) >= 1025]);
    const seqDelta = u32(up.r[0]!['tcp.seq'], up.c[0]!['tcp.seq']);
    up.c.forEach((c, k) => {
      const r = up.r[k]!;
      note('up: TTL change', Number(r['ip.ttl']) - Number(c['ip.ttl']));
      note('up: IP ID kept', r['ip.id'] === c['ip.id']);
      note('up: DF, DSCP kept', [r['ip.flags.df'] === c['ip.flags.df'], r['ip.dsfield'] === c['ip.dsfield']]);
      note('up: checksums good at rs', [r['ip.checksum.status'], r['tcp.checksum.status']]);
      note('up: flags, length, window kept', [r['tcp.flags'] === c['tcp.flags'], r['tcp.len'] === c['tcp.len'], r['tcp.window_size_value'] === c['tcp.window_size_value']]);
      note('up: seq delta constant', u32(r['tcp.seq'], c['tcp.seq']) === seqDelta);
      note('up: ack kept', r['tcp.ack'] === c['tcp.ack']);
      // TOA: on which packet of the connection, with what content.
      const toa = /fe08([0-9a-f]{4})([0-9a-f]{8})/.exec(r['tcp.options'].replace(/:/g, ''));
      if (kinds(r).includes('254')) note('up: TOA on packet #', k);
      if (toa) note('up: TOA content is the client', [Number.parseInt(toa[1]!, 16) === Number(cport), toa[2] === syn['ip.src'].split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')]);
      if (c['tcp.flags'] === '0x0002') note('up: SYN options client → rs', [kinds(c).join(','), kinds(r).join(',')]);
    });
    note('seq delta non-zero', seqDelta !== 0);
    down.c.forEach((c, k) => {
      const r = down.r[k]!;
      note('down: TTL change', Number(c['ip.ttl']) - Number(r['ip.ttl']));
      note('down: IP ID kept', r['ip.id'] === c['ip.id']);
      note('down: checksums good at client', [c['ip.checksum.status'], c['tcp.checksum.status']]);
      note('down: seq kept, ack shifted back', [c['tcp.seq'] === r['tcp.seq'], u32(r['tcp.ack'], c['tcp.ack']) === seqDelta]);
      note('down: flags, length, window kept', [r['tcp.flags'] === c['tcp.flags'], r['tcp.len'] === c['tcp.len'], r['tcp.window_size_value'] === c['tcp.window_size_value']]);
      if (c['tcp.flags'] === '0x0012') note('down: SYN-ACK MSS rs − client', Number(r['tcp.options.mss_val']) - Number(c['tcp.options.mss_val']));
    });
  });
  return Object.fromEntries([...facts].map(([k, v]) => [k, [...v].sort()]));
}

/** Local ports the director chose, in connection order (the one documented difference). */
export function localPorts(captures: Record<string, string>): number[] {
  const f = ['frame.time_epoch', 'tcp.srcport', 'tcp.seq_raw', 'ip.dst'];
  const rows = [...tsharkFields(captures.rs1!, 'tcp.flags == 0x0002', f), ...tsharkFields(captures.rs2!, 'tcp.flags == 0x0002', f)];
  const seen = new Set<string>();
  return rows
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .filter((r) => !seen.has(r.slice(1).join('|')) && seen.add(r.slice(1).join('|')) !== undefined)
    .map((r) => Number(r[1]));
}
