/**
 * The HTML report in a real browser: headless Chromium (Debian's package) driven by
 * playwright-core. The demo's broken DR set (rs1 with arp_announce=0) and its conformant twin,
 * written by the built CLI (`verify … --format html --output`), load with no console error and
 * no request of any kind (every request is routed and refused); the verdict shows; the failing
 * rules of the JSON report of the same set read "fail" and their connections' ladders are drawn
 * with the offending copies marked; clicking a finding shows its evidence frames. A report
 * full of hostile strings runs no script of theirs. A screenshot of each page is written as a
 * test artifact (the path is printed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/verify/report/html/page.js';
import { need, repoRoot } from '../helpers/env.js';
import { HOSTILE, hostileModel } from './hostile-model.js';

const CHROMIUM = '/usr/bin/chromium';
const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const ready =
  need(existsSync(CHROMIUM), `Chromium not installed (${CHROMIUM}: apt-get install chromium)`) &&
  need(existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')), 'lvsaudit not built (npm run build)');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-html-'));
const artifacts = process.env.LVSAUDIT_TEST_ARTIFACTS ?? path.join(os.tmpdir(), 'lvsaudit-test-artifacts');
/** The page is served from a name that cannot resolve: anything else it asks for is refused. */
const ORIGIN = 'http://lvsaudit-report.invalid';

function demoSet(dir: string): string[] {
  const d = path.join(repoRoot, 'fixtures', 'lab', dir);
  return [
    '--config', path.join(d, 'service.conf'), '--profile', 'linux-legacy',
    '--client', path.join(d, 'client.pcap'), '--director', path.join(d, 'director.pcap'),
    '--rs-capture', `10.0.0.11=${path.join(d, 'rs1.pcap')}`, '--rs-capture', `10.0.0.12=${path.join(d, 'rs2.pcap')}`,
  ];
}

interface JsonDoc {
  verdict: string;
  findings: Array<{ rule: string; severity: string; conn?: string; evidence: Array<{ capture: string; frame: number }> }>;
  rules: Array<{ rule: string; status: string }>;
}

function report(dir: string): { html: string; json: JsonDoc; file: string } {
  const file = path.join(tmp, `${dir}.html`);
  const h = spawnSync(process.execPath, [cli, 'verify', ...demoSet(dir), '--format', 'html', '--output', file], { encoding: 'utf8' });
  if (h.status !== 0 && h.status !== 1) throw new Error(`verify --format html exited ${h.status}: ${h.stderr}`);
  const j = spawnSync(process.execPath, [cli, 'verify', ...demoSet(dir), '--format', 'json'], { encoding: 'utf8' });
  return { html: readFileSync(file, 'utf8'), json: JSON.parse(j.stdout) as JsonDoc, file };
}

interface Loaded {
  page: Page;
  errors: string[];
  requests: string[];
  dialogs: string[];
}

let browser: Browser | null = null;

async function load(html: string, javaScriptEnabled = true): Promise<Loaded> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 }, javaScriptEnabled });
  const loaded: Loaded = { page, errors: [], requests: [], dialogs: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') loaded.errors.push(m.text());
  });
  page.on('pageerror', (e) => loaded.errors.push(e.message));
  page.on('dialog', (d) => {
    loaded.dialogs.push(d.message());
    void d.dismiss();
  });
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === `${ORIGIN}/report.html`) await route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    else {
      loaded.requests.push(url);
      await route.abort();
    }
  });
  await page.goto(`${ORIGIN}/report.html`, { waitUntil: 'load' });
  return loaded;
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `html-report-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}

beforeAll(async () => {
  if (ready) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!ready)('HTML report in Chromium', () => {
  it("the demo's broken DR set: FAIL, the failing rules, their ladders and the per-RS chart; a finding opens to its evidence", async () => {
    const { html, json } = report('arp-announce0');
    expect(json.verdict).toBe('fail');
    const { page, errors, requests } = await load(html);
    try {
      await expect.poll(() => page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('fail');
      expect(await page.locator('[data-verdict] .badge').innerText()).toBe('FAIL');
      expect(await page.locator('[data-verdict] .badge').isVisible()).toBe(true);
      // Every rule the JSON says fails reads fail in the table, visibly.
      const failing = json.rules.filter((r) => r.status === 'fail').map((r) => r.rule);
      expect(failing).toEqual(expect.arrayContaining(['arp.client-poisoned', 'arp.vip-announced-by-rs', 'flow.bypassed-director']));
      for (const rule of failing) {
        const row = page.locator(`tr[data-rule="${rule}"]`);
        expect(await row.getAttribute('data-status')).toBe('fail');
        expect(await row.isVisible()).toBe(true);
      }
      // The bypassed connections' ladders, with the copies the findings cite in red.
      const conns = [...new Set(json.findings.filter((f) => f.rule === 'flow.bypassed-director').map((f) => f.conn!))];
      expect(conns.length).toBeGreaterThan(0);
      for (const conn of conns) {
        const block = page.locator(`.ladder-block[data-conn="${conn}"]`);
        expect(await block.locator('svg.ladder').isVisible()).toBe(true);
        expect(await block.locator('g.copy.bad').count()).toBeGreaterThan(0);
      }
      expect(await page.locator('#chart-scheduling svg').isVisible()).toBe(true);
      expect(await page.locator('#chart-arp svg').isVisible()).toBe(true);
      // A finding is closed; a click on it shows its evidence frames (file#frame, as in the JSON).
      const f = json.findings.find((x) => x.rule === 'arp.client-poisoned')!;
      const finding = page.locator('details.finding[data-rule="arp.client-poisoned"]').first();
      const evidence = finding.locator('.evidence');
      expect(await evidence.isVisible()).toBe(false);
      await finding.locator('summary').click();
      expect(await evidence.isVisible()).toBe(true);
      const text = await evidence.innerText();
      for (const e of f.evidence) expect(text).toContain(`${e.capture}#${e.frame}`);
      // The filter (the page's one script) narrows the findings.
      await page.locator('#filter').fill('arp.vip-announced-by-rs');
      expect(await page.locator('details.finding[data-rule="arp.client-poisoned"]').first().isVisible()).toBe(false);
      expect(await page.locator('details.finding[data-rule="arp.vip-announced-by-rs"]').first().isVisible()).toBe(true);
      await page.locator('#filter').fill('');
      await screenshot(page, 'dr-arp-announce0');
      // Printed: no filter box.
      await page.emulateMedia({ media: 'print' });
      expect(await page.locator('.filter-row').isVisible()).toBe(false);
      await page.emulateMedia({ media: 'screen' });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('reads without JavaScript: verdict, rules, ladders; a finding still opens to its evidence', async () => {
    const { html, json } = report('arp-announce0');
    const { page, errors, requests } = await load(html, false);
    try {
      expect(await page.locator('[data-verdict] .badge').innerText()).toBe('FAIL');
      expect(await page.locator('tr[data-status="fail"]').count()).toBe(json.rules.filter((r) => r.status === 'fail').length);
      expect(await page.locator('.ladder-block svg.ladder').first().isVisible()).toBe(true);
      // The filter needs the script: without it the box stays hidden rather than doing nothing.
      expect(await page.locator('.filter-row').isVisible()).toBe(false);
      const finding = page.locator('details.finding').first();
      expect(await finding.locator('.evidence').isVisible()).toBe(false);
      await finding.locator('summary').click();
      expect(await finding.locator('.evidence').isVisible()).toBe(true);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('the conformant DR set: PASS, no failing rule, no ladder', async () => {
    const { html, json } = report('dr');
    expect(json.verdict).toBe('pass');
    const { page, errors, requests } = await load(html);
    try {
      expect(await page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('pass');
      expect(await page.locator('[data-verdict] .badge').innerText()).toBe('PASS');
      expect(await page.locator('tr[data-status="fail"]').count()).toBe(0);
      expect(await page.locator('tr[data-rule]').count()).toBe(json.rules.length);
      expect(await page.locator('.ladder-block').count()).toBe(0);
      expect(await page.locator('#chart-scheduling svg').isVisible()).toBe(true);
      await screenshot(page, 'dr-pass');
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('a report of hostile strings runs none of them', async () => {
    for (const s of HOSTILE) {
      const html = renderHtml(hostileModel(s), { command: 'verify', serviceLines: [`TCP ${s}`], show: s });
      const { page, errors, requests, dialogs } = await load(html);
      try {
        await page.locator('details.finding summary').first().click();
        expect(dialogs).toEqual([]);
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
        expect(await page.locator('img, iframe, textarea').count()).toBe(0);
        expect(await page.locator('script').count()).toBe(1);
        expect(await page.locator('details.finding .msg').first().innerText()).toBe(`m ${s}`);
      } finally {
        await page.close();
      }
    }
  });
});
