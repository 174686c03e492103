/**
 * The lab matrix: every forwarding method run through the reference lab without a fault (verify
 * must pass, exit 0) and with faults that each break one rule on purpose — director faults (the
 * reference director's switches) and real-server faults (sysctls, routes, VIP binding). A faulty
 * case must fail (exit 1) with the rule(s) that fault is about, and report nothing unrelated:
 * every error/warning rule is either required or a listed consequence of the same fault.
 *
 * The table compares the reference director with real IPVS case by case: the `ipvs` column is
 * filled from the JSON document `lvsaudit lab run --director ipvs --format json` writes (the VM
 * test drops it at ipvsMatrixPath()); without it the column says how to get it. The `dpvs`
 * column does the same for the FullNAT cases DPVS can produce: `lab matrix --dpvs` runs them
 * (DPVS takes seconds per case), else it is read from the document the DPVS lab test drops at
 * dpvsMatrixPath() (the ipvs document's shape).
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { DirectorProfile } from '../replay/director/types.js';
import { runReferenceLab, type ReferenceLabResult } from './reference-lab.js';
import { parseLabFaults } from './faults.js';
import type { LabMode } from './plan.js';
import type { LabOffloads } from './sequence.js';
import type { VerifyResult } from '../verify/model/result.js';
import { dpvsCase, runDpvsCase } from './dpvs/director.js';
import type { DpvsBinaries } from './dpvs/build.js';
import { errorRules } from './sequence.js';

export interface MatrixCase {
  /** `<method>/<fault or none>`, e.g. `fullnat-dpvs/toa-missing`. */
  id: string;
  method: string;
  mode: LabMode;
  profile: DirectorProfile;
  /** `--fault` value, or null for the conformant run. */
  fault: string | null;
  expectExit: 0 | 1;
  /** Error rules the fault must trigger. */
  required: readonly string[];
  /** Further error/warning rules the same fault causes on the wire (consequences, not noise). */
  allowed: readonly string[];
  /** Matching case id of the IPVS VM lab (sequence.ts labCase ids), when there is one. */
  ipvsCase?: string;
  /** Matching case of the DPVS lab (its fault, if any; rr; IPv6 or NAT64): the case id is `dpvsCaseId(c)`. */
  dpvs?: { fault: string | null; family?: 6; nat64?: boolean };
  /**
   * Why the reference lab cannot run this case (it has a DPVS counterpart only): the row's
   * judgement is then DPVS's verdict against the expectation.
   */
  referenceUnavailable?: string;
  /** A case whose expected verdict the verifier does not reach yet: what happens and why. */
  knownGap?: string;
  why: string;
}

const NAT = { method: 'NAT', mode: 'nat', profile: 'linux' } as const;
const DR = { method: 'DR', mode: 'dr', profile: 'linux' } as const;
const FNAT_ALI = { method: 'FullNAT alibaba', mode: 'fullnat', profile: 'alibaba' } as const;
const FNAT_DPVS = { method: 'FullNAT dpvs', mode: 'fullnat', profile: 'dpvs' } as const;

/** The reference director forwards IPv4 only (src/replay/director: no IPv6 header, no neighbour discovery). */
const REFERENCE_IPV4_ONLY = 'the reference director is IPv4 only';

function ok(base: Pick<MatrixCase, 'method' | 'mode' | 'profile'>, idStem: string, ipvsCase?: string): MatrixCase {
  return { ...base, id: `${idStem}/none`, fault: null, expectExit: 0, required: [], allowed: [], ...(ipvsCase ? { ipvsCase } : {}), why: 'conformant director and real servers' };
}

/** Connections that time out make the client retransmit its SYN: a consequence, not noise. */
const SYN_RETRY = 'flow.syn-retransmit';
/** A real server that claims the VIP pulls the router's VIP traffic away from the director. */
/** What a real server claiming the VIP may cause: the router follows it, and when the director
 *  claims the VIP again afterwards the claims alternate. */
const POISONED = ['arp.client-poisoned', 'flow.bypassed-director', 'arp.vip-conflict'];

export const MATRIX_CASES: readonly MatrixCase[] = [
  ok(NAT, 'nat', 'nat-rr'),
  { ...NAT, id: 'nat/no-ttl-decrement', fault: 'no-ttl-decrement', expectExit: 1, required: ['rewrite.ttl'], allowed: [], why: 'director forwards client→RS without TTL −1 (§1.2)' },
  { ...NAT, id: 'nat/bad-l4-checksum', fault: 'bad-l4-checksum', expectExit: 1, required: ['checksum.l4'], allowed: [SYN_RETRY], why: 'director writes a wrong TCP checksum; the RS drops the SYN' },
  { ...NAT, id: 'nat/rs2:gateway-bypass', fault: 'rs2:gateway-bypass', expectExit: 1, required: ['nat.reply-bypass', 'nat.rip-leak'], allowed: [SYN_RETRY, 'flow.unexpected-rst'], ipvsCase: 'nat-rr-rs2-gateway-bypass', why: "rs2's default route is a router, so its replies skip the un-NAT" },
  ok(DR, 'dr', 'dr-rr'),
  { ...DR, id: 'dr/no-ttl-decrement', fault: 'no-ttl-decrement', expectExit: 1, required: ['rewrite.ttl'], allowed: [], why: 'director forwards without TTL −1 although profile linux decrements it (§1.2)' },
  { ...DR, id: 'dr/bad-ip-checksum', fault: 'bad-ip-checksum', expectExit: 1, required: ['checksum.ip'], allowed: [SYN_RETRY], why: 'director writes a wrong IPv4 header checksum; the RS drops the SYN' },
  { ...DR, id: 'dr/rs2:arp_ignore=0', fault: 'rs2:arp_ignore=0', expectExit: 1, required: ['arp.vip-answered-by-rs', 'arp.vip-conflict'], allowed: POISONED, ipvsCase: 'dr-rr-rs2-arp_ignore0', why: 'rs2 answers who-has VIP' },
  { ...DR, id: 'dr/rs2:arp_announce=0', fault: 'rs2:arp_announce=0', expectExit: 1, required: ['arp.vip-announced-by-rs', 'arp.vip-conflict'], allowed: POISONED, ipvsCase: 'dr-rr-rs2-arp_announce0', why: 'rs2 sends ARP requests with the VIP as sender' },
  {
    ...DR,
    id: 'dr/rs2:no-vip',
    fault: 'rs2:no-vip',
    expectExit: 1,
    required: ['dr.vip-not-bound'],
    allowed: [SYN_RETRY],
    why: 'rs2 has no VIP: Linux drops the forwarded SYNs silently (no RST/ICMP), the client retransmits',
  },
  ok(FNAT_ALI, 'fullnat-alibaba'),
  { ...FNAT_ALI, id: 'fullnat-alibaba/toa-missing', fault: 'toa-missing', expectExit: 1, required: ['fnat.toa-missing'], allowed: [], why: 'director never inserts TOA (§2.2)' },
  { ...FNAT_ALI, id: 'fullnat-alibaba/seq-drift', fault: 'seq-drift', expectExit: 1, required: ['fnat.seq-delta'], allowed: [SYN_RETRY, 'flow.unexpected-rst'], why: 'seq delta grows per client packet (R9)' },
  { ...FNAT_ALI, id: 'fullnat-alibaba/mss-not-adjusted', fault: 'mss-not-adjusted', expectExit: 1, required: ['fnat.mss-adjust'], allowed: [], why: 'SYN-ACK MSS not reduced by the TOA length (R10)' },
  { ...ok(FNAT_DPVS, 'fullnat-dpvs'), dpvs: { fault: null } },
  {
    ...FNAT_DPVS,
    id: 'fullnat-dpvs/rs2:gateway-bypass',
    fault: 'rs2:gateway-bypass',
    expectExit: 1,
    required: ['nat.reply-bypass'],
    allowed: ['flow.lost-in-transit', SYN_RETRY],
    dpvs: { fault: 'rs2:gateway-bypass' },
    why: "rs2's route to the LIP network is a router, not the director: its replies never come back",
  },
  { ...FNAT_DPVS, id: 'fullnat-dpvs/toa-missing', fault: 'toa-missing', expectExit: 1, required: ['fnat.toa-missing'], allowed: [], why: 'director never inserts TOA (§3.1)' },
  { ...FNAT_DPVS, id: 'fullnat-dpvs/toa-in-syn', fault: 'toa-in-syn', expectExit: 1, required: ['fnat.toa-placement'], allowed: [], why: 'TOA in the SYN, wrong for dpvs (§3.1)' },
  { ...FNAT_DPVS, id: 'fullnat-dpvs/mss-not-adjusted', fault: 'mss-not-adjusted', expectExit: 1, required: ['fnat.mss-adjust'], allowed: [], why: 'SYN-ACK MSS not reduced by the TOA length (R10)' },
  {
    ...FNAT_DPVS,
    id: 'fullnat-dpvs/break-persistence',
    fault: 'break-persistence',
    expectExit: 1,
    required: ['sched.persistence'],
    allowed: [],
    why: 'director ignores its persistence templates: a client address\'s second connection goes to the other real server (§1.11)',
  },
  {
    ...ok({ ...FNAT_DPVS, method: 'FullNAT dpvs IPv6' }, 'fullnat-dpvs-ipv6'),
    dpvs: { fault: null, family: 6 },
    referenceUnavailable: REFERENCE_IPV4_ONLY,
    why: 'IPv6 FullNAT (6→6): TOA kind 254 length 20, SYN-ACK MSS −20 (§3.1)',
  },
  {
    ...ok({ ...FNAT_DPVS, method: 'FullNAT dpvs NAT64' }, 'fullnat-dpvs-nat64'),
    dpvs: { fault: null, family: 6, nat64: true },
    referenceUnavailable: REFERENCE_IPV4_ONLY,
    why: 'NAT64 (IPv6 client, IPv4 real servers): the 20-byte IPv6 TOA inside IPv4 TCP (§3.1)',
  },
];

export interface MatrixOutcome {
  case: MatrixCase;
  exitCode: number | null;
  /** Error and warning rules verify reported (sorted, unique). */
  errors: string[];
  warnings: string[];
  missing: string[];
  unrelated: string[];
  /** Client connections answered / made. */
  answered: string;
  ok: boolean;
  error: string | null;
  durationMs: number;
  /** The reference lab did not run the case (MatrixCase.referenceUnavailable). */
  notRun?: string;
}

function rulesOf(r: VerifyResult, severity: 'error' | 'warning'): string[] {
  return [...new Set(r.findings.filter((f) => f.severity === severity).map((f) => f.rule))].sort();
}

/** Judge a verify result against a case's expectation (pure; unit-tested). */
export function judge(c: MatrixCase, exitCode: number, errors: readonly string[], warnings: readonly string[]): Pick<MatrixOutcome, 'missing' | 'unrelated' | 'ok'> {
  const allowed = new Set([...c.required, ...c.allowed]);
  const missing = c.required.filter((r) => !errors.includes(r));
  const unrelated = [...new Set([...errors, ...warnings])].filter((r) => !allowed.has(r));
  const expectedExit = c.knownGap ? 0 : c.expectExit;
  return { missing, unrelated, ok: missing.length === 0 && unrelated.length === 0 && exitCode === expectedExit };
}

export interface MatrixOptions {
  /** Offloads of every case's lab (sequence.ts offloadPlan; default off). */
  offloads?: LabOffloads;
}

export async function runMatrixCase(c: MatrixCase, outDir: string, o: MatrixOptions = {}): Promise<MatrixOutcome> {
  const started = Date.now();
  if (c.referenceUnavailable !== undefined) {
    return { case: c, exitCode: null, errors: [], warnings: [], missing: [], unrelated: [], answered: '-', ok: true, error: null, durationMs: 0, notRun: c.referenceUnavailable };
  }
  let r: ReferenceLabResult;
  try {
    r = await runReferenceLab({
      mode: c.mode,
      profile: c.profile,
      faults: parseLabFaults('reference', c.mode, c.fault ? [c.fault] : []),
      outDir,
      verify: true,
      ...(o.offloads !== undefined ? { offloads: o.offloads } : {}),
    });
  } catch (e) {
    return { case: c, exitCode: null, errors: [], warnings: [], missing: [...c.required], unrelated: [], answered: '-', ok: false, error: (e as Error).message, durationMs: Date.now() - started };
  }
  const v = r.verify!;
  const errors = rulesOf(v, 'error');
  const warnings = rulesOf(v, 'warning');
  return {
    case: c,
    exitCode: r.exitCode,
    errors,
    warnings,
    ...judge(c, r.exitCode, errors, warnings),
    answered: `${r.connections.filter((x) => x.ok).length}/${r.connections.length}`,
    error: null,
    durationMs: Date.now() - started,
  };
}

/** The DPVS lab case id of a matrix case with a DPVS counterpart (sequence.ts labCase ids). */
export function dpvsCaseId(c: MatrixCase): string | null {
  if (!c.dpvs) return null;
  const variant = c.dpvs.nat64 === true ? ['nat64'] : c.dpvs.family === 6 ? ['ipv6'] : [];
  return ['fullnat', ...variant, 'rr', ...(c.dpvs.fault ? [c.dpvs.fault.replace(/:/g, '-').replace(/=/g, '')] : [])].join('-');
}

/** Where the DPVS lab's JSON result is looked for (env LVSAUDIT_DPVS_MATRIX overrides). */
export function dpvsMatrixPath(): string {
  return process.env.LVSAUDIT_DPVS_MATRIX ?? join(tmpdir(), 'lvsaudit-dpvs-matrix.json');
}

/** Where the IPVS VM lab's JSON result is looked for (env LVSAUDIT_IPVS_MATRIX overrides). */
export function ipvsMatrixPath(): string {
  return process.env.LVSAUDIT_IPVS_MATRIX ?? join(tmpdir(), 'lvsaudit-ipvs-matrix.json');
}

export interface IpvsCell {
  verdict: string | null;
  rules: string[];
  error: string | null;
}

/** Read `lvsaudit lab run --director ipvs --format json` output: case id → verdict and error rules. */
export function loadIpvsResults(path = ipvsMatrixPath()): Map<string, IpvsCell> | null {
  if (!existsSync(path)) return null;
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as {
      cases?: Array<{ id?: string; verdict?: string | null; error?: string | null; findings?: Array<{ rule?: string; severity?: string }> }>;
    };
    const out = new Map<string, IpvsCell>();
    for (const c of doc.cases ?? []) {
      if (typeof c.id !== 'string') continue;
      const rules = [...new Set((c.findings ?? []).filter((f) => f.severity === 'error' && typeof f.rule === 'string').map((f) => f.rule!))].sort();
      out.set(c.id, { verdict: c.verdict ?? null, rules, error: c.error ?? null });
    }
    return out;
  } catch {
    return null;
  }
}

function referenceCell(o: MatrixOutcome): string {
  if (o.notRun !== undefined) return `– (${o.notRun})`;
  if (o.error) return `could not run: ${o.error.slice(0, 60)}`;
  const rules = o.errors.length ? o.errors.join('\n') : o.warnings.length ? `(warn: ${o.warnings.join(', ')})` : 'no finding';
  return `exit ${o.exitCode}\n${rules}`;
}

function dpvsCell(c: MatrixCase, dpvs: Map<string, IpvsCell> | null): string {
  const id = dpvsCaseId(c);
  if (id === null) return c.mode === 'fullnat' ? '– (DPVS cannot\nproduce it)' : '–';
  if (dpvs === null) return '– (lab matrix --dpvs)';
  const r = dpvs.get(id);
  if (!r) return `– (${id} not run)`;
  if (r.error) return `${id}: could not run`;
  const exit = r.verdict === 'fail' ? 1 : r.verdict === 'pass' ? 0 : '?';
  return `${id}: exit ${exit}\n${r.rules.join('\n') || 'no finding'}`;
}

function ipvsCell(c: MatrixCase, ipvs: Map<string, IpvsCell> | null): string {
  if (!c.ipvsCase) return '– (no IPVS counterpart)';
  if (ipvs === null) return '– (run `lvsaudit lab run\n--director ipvs`)';
  const r = ipvs.get(c.ipvsCase);
  if (!r) return `– (${c.ipvsCase} not run)`;
  if (r.error) return `${c.ipvsCase}: could not run`;
  const exit = r.verdict === 'fail' ? 1 : r.verdict === 'pass' ? 0 : '?';
  return `${c.ipvsCase}: exit ${exit}\n${r.rules.join('\n') || 'no finding'}`;
}

/**
 * Run the DPVS counterpart of every case that has one (one after the other: one DPVS lab at a
 * time), as cells of the dpvs column. A case that cannot run is a cell with its error.
 */
export async function runDpvsMatrix(binaries: DpvsBinaries, outRoot: string, cases: readonly MatrixCase[], onCase?: (id: string, cell: IpvsCell, ms: number) => void): Promise<Map<string, IpvsCell>> {
  const out = new Map<string, IpvsCell>();
  for (const c of cases) {
    const id = dpvsCaseId(c);
    if (id === null || out.has(id)) continue;
    const started = Date.now();
    let cell: IpvsCell;
    try {
      const v = c.dpvs!;
      const dc = dpvsCase('fullnat', { faults: v.fault ? [v.fault] : [], ...(v.family !== undefined ? { family: v.family } : {}), ...(v.nat64 === true ? { nat64: true } : {}) });
      const r = await runDpvsCase(binaries, dc, join(outRoot, `dpvs-${id}`), { verify: true });
      cell = { verdict: r.verify!.verdict, rules: errorRules(r.verify!), error: null };
    } catch (e) {
      cell = { verdict: null, rules: [], error: (e as Error).message };
    }
    out.set(id, cell);
    onCase?.(id, cell, Date.now() - started);
  }
  return out;
}

/**
 * Where the reference director and DPVS disagree on a case (exit code or error rules), or null.
 * The two are held to the same verdict: DPVS is the real FullNAT director the reference copies.
 */
export function dpvsDisagrees(o: MatrixOutcome, dpvs: Map<string, IpvsCell> | null): string | null {
  const id = dpvsCaseId(o.case);
  const r = id !== null && dpvs !== null ? dpvs.get(id) : undefined;
  if (r === undefined) return null;
  if (o.notRun !== undefined) {
    // Nothing to compare with: DPVS is held to the case's expectation instead.
    if (r.error) return `dpvs could not run: ${r.error.slice(0, 80)}`;
    const exit = r.verdict === 'fail' ? 1 : 0;
    return judge(o.case, exit, r.rules, []).ok ? null : `dpvs not as expected: exit ${exit} ${r.rules.join(', ') || 'no error'}`;
  }
  if (o.exitCode === null) return null;
  if (r.error) return `dpvs could not run: ${r.error.slice(0, 80)}`;
  const exit = r.verdict === 'fail' ? 1 : 0;
  if (exit !== o.exitCode || r.rules.join(',') !== o.errors.join(',')) return `dpvs differs: exit ${exit} ${r.rules.join(', ') || 'no error'}`;
  return null;
}

/** The matrix as rows of text cells (text table and HTML page alike). */
export interface MatrixRows {
  head: string[];
  rows: Array<{ id: string; ok: boolean; cells: string[] }>;
  notes: string[];
}

/** The matrix's cells: case, expectation, reference (observed), ipvs, dpvs, judgement. */
export function matrixRows(
  outcomes: readonly MatrixOutcome[],
  ipvs: Map<string, IpvsCell> | null = loadIpvsResults(),
  dpvs: Map<string, IpvsCell> | null = loadIpvsResults(dpvsMatrixPath()),
): MatrixRows {
  const rows = outcomes.map((o) => {
    const c = o.case;
    const expected = c.expectExit === 0 ? 'exit 0' : `exit 1\n${c.required.join('\n')}`;
    let result = o.ok ? 'ok' : 'MISMATCH';
    if (o.ok && c.knownGap) result = 'GAP (see notes)';
    if (o.missing.length) result += `\nmissing: ${o.missing.join(', ')}`;
    if (o.unrelated.length) result += `\nunrelated: ${o.unrelated.join(', ')}`;
    if (!o.ok && o.exitCode !== null && o.exitCode !== (c.knownGap ? 0 : c.expectExit)) result += `\nexit ${o.exitCode}`;
    const differs = dpvsDisagrees(o, dpvs);
    if (differs !== null) result += `\n${differs}`;
    const dpvsId = dpvsCaseId(c);
    if (o.notRun !== undefined && differs === null && (dpvs === null || dpvsId === null || !dpvs.has(dpvsId))) result = 'not judged: DPVS only (lab matrix --dpvs)';
    return {
      id: c.id,
      ok: o.ok && differs === null,
      cells: [c.method, c.fault ?? 'none', expected, referenceCell(o), ipvsCell(c, ipvs), dpvsCell(c, dpvs), o.answered, `${(o.durationMs / 1000).toFixed(1)} s`, result],
    };
  });
  const notes = outcomes.filter((o) => o.case.knownGap).map((o) => `${o.case.id}: ${o.case.knownGap}`);
  return { head: ['method', 'fault', 'expected', 'reference', 'ipvs', 'dpvs', 'conns', 'time', 'result'], rows, notes };
}

/** The matrix as a table: case, expectation, reference (observed), ipvs, dpvs, judgement. */
export function renderMatrix(
  outcomes: readonly MatrixOutcome[],
  ipvs: Map<string, IpvsCell> | null = loadIpvsResults(),
  dpvs: Map<string, IpvsCell> | null = loadIpvsResults(dpvsMatrixPath()),
): string {
  const m = matrixRows(outcomes, ipvs, dpvs);
  const table = new Table({ head: m.head, style: { head: [], border: [] } });
  for (const r of m.rows) table.push(r.cells);
  return `${table.toString()}\n${m.notes.map((n) => `note: ${n}`).join('\n')}${m.notes.length ? '\n' : ''}`;
}

/** Run all (or the selected) cases one after the other; each case gets its own fresh lab. */
export async function runMatrix(
  outRoot: string,
  cases: readonly MatrixCase[] = MATRIX_CASES,
  opts: MatrixOptions = {},
  onCase?: (o: MatrixOutcome) => void,
): Promise<MatrixOutcome[]> {
  const out: MatrixOutcome[] = [];
  for (const c of cases) {
    const o = await runMatrixCase(c, join(outRoot, c.id.replace(/[/:=]/g, '_')), opts);
    onCase?.(o);
    out.push(o);
  }
  return out;
}
