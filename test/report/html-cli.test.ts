/**
 * `--format html` through the built CLI: verify and arp write the page to --output (stdout
 * untouched) with the exit code of the text report; html is refused where it has no meaning
 * (arp --watch / --live), one `lvsaudit:` line, exit 2; and a capture whose file name is
 * markup (the realistic way hostile text reaches a report) comes out as text.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { need, repoRoot } from '../helpers/env.js';
import { markupOnly, pageFindings } from './html-parse.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const built = need(existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')), 'lvsaudit not built (npm run build)');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-html-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const lab = (...p: string[]): string => path.join(repoRoot, 'fixtures', 'lab', 'arp-announce0', ...p);

describe.skipIf(!built)('--format html from the command line', () => {
  it('verify writes the page to --output, exit 1 as the text report', () => {
    const file = path.join(tmp, 'v.html');
    const args = ['--config', lab('service.conf'), '--profile', 'linux-legacy', '--client', lab('client.pcap'), '--director', lab('director.pcap'), '--rs-capture', `10.0.0.11=${lab('rs1.pcap')}`];
    const text = run(['verify', ...args]);
    const r = run(['verify', ...args, '--format', 'html', '--output', file]);
    expect(r.code).toBe(text.code);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const page = readFileSync(file, 'utf8');
    expect(page).toMatch(/^<!DOCTYPE html>/);
    expect(page).toContain('data-verdict="fail"');
  });

  it('arp writes the page to --output or stdout, with the ARP rules', () => {
    const file = path.join(tmp, 'a.html');
    const capture = path.join(repoRoot, 'fixtures', 'arp', 'vip-answered-by-rs.pcap');
    const r = run(['arp', '--vip', '10.0.0.100', capture, '--format', 'html', '--output', file]);
    const json = JSON.parse(run(['arp', '--vip', '10.0.0.100', capture, '--format', 'json']).out) as { verdict: string; findings: Array<{ rule: string }> };
    expect(r.code).toBe(json.verdict === 'fail' ? 1 : 0);
    const page = readFileSync(file, 'utf8');
    expect(pageFindings(page).map((f) => f.rule).sort()).toEqual(json.findings.map((f) => f.rule).sort());
    expect(json.findings.length).toBeGreaterThan(0);
    expect(run(['arp', '--vip', '10.0.0.100', capture, '--format', 'html']).out).toBe(page);
  });

  it('arp --watch and --live refuse html, one line, exit 2', () => {
    for (const extra of [['--watch', '--file', path.join(repoRoot, 'fixtures', 'arp', 'clean.pcap')], ['--live', '--iface', 'lo', '--vip', '10.0.0.100']]) {
      const r = run(['arp', ...extra, '--format', 'html']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^lvsaudit: --format html is for an offline arp report/);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });

  it('a capture named with markup is text in the page', () => {
    // A file name cannot hold '/', so no closing tags: an opening one is enough to run script.
    const name = path.join(tmp, '"><img src=x onerror=alert(1)><script>alert(2).pcap');
    symlinkSync(lab('rs1.pcap'), name);
    const file = path.join(tmp, 'x.html');
    const r = run(['verify', '--config', lab('service.conf'), '--profile', 'linux-legacy', '--client', lab('client.pcap'), '--director', lab('director.pcap'), '--rs-capture', `10.0.0.11=${name}`, '--format', 'html', '--output', file]);
    expect(r.code).toBe(1);
    const page = readFileSync(file, 'utf8');
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(markupOnly(page)).not.toMatch(/<img|<script/);
    // The file is named in the page, and in the evidence, exactly as given.
    expect(pageFindings(page).some((f) => f.evidence.some((e) => e.capture === name))).toBe(true);
  });
});
