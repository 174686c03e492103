/**
 * The report's charts, rendered to SVG on this side by ECharts (server-side rendering: no script
 * in the page, the picture is in the file): connections per real server over time against what
 * the weights ask for, the ARP timeline of each VIP's MACs, the clock offset of every point.
 * ECharts is loaded only when a chart is drawn, so other formats do not pay for loading it; by
 * require (its CommonJS build), as the bundled CLI runs as a script without dynamic import.
 */
import { createRequire } from 'node:module';
import type { EChartsOption } from 'echarts';
import type { Service } from '../../service/model.js';
import type { TimelineRow } from '../../arp/types.js';
import type { VerifyResult } from '../../model/result.js';
import { html, trusted, type Markup } from './markup.js';

const WIDTH = 860;
const PALETTE = ['#2e6fb7', '#d9822b', '#3d9970', '#b10dc9', '#85144b', '#39cccc', '#7f8c8d', '#e74c3c'];

type ECharts = typeof import('echarts');

function svgOf(echarts: ECharts, option: EChartsOption, height: number): Markup {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  try {
    chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'sans-serif' }, ...option });
    // ECharts escapes the texts it writes (series names, axis labels): what comes from a
    // capture stays text. The report's own tests hold that with crafted names.
    return trusted(chart.renderToSVGString());
  } finally {
    chart.dispose();
  }
}

/** ISO 8601 with up to nine fraction digits (the reports' times) → ms since the epoch, sub-ms kept. */
export function isoMs(iso: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (m === null) return NaN;
  const whole = Date.parse(`${m[1]!}Z`);
  return whole + (m[2] !== undefined ? Number(`0.${m[2]}`) * 1000 : 0);
}

/** The ARP timeline names a VIP "10.0.0.100 (VIP)": the address alone. */
function bareIp(ip: string): string {
  return ip.endsWith(' (VIP)') ? ip.slice(0, -' (VIP)'.length) : ip;
}

function servicesOf(r: VerifyResult): Service[] {
  const s = r.service;
  if (s === null || s === undefined) return [];
  return (Array.isArray(s) ? s : [s]) as Service[];
}

/** Cumulative connections per real server at a series of times. */
interface Cumulative {
  times: number[];
  perRs: Map<string, number[]>;
  /** Connections counted, and of how many judged (the ladders are capped). */
  counted: number;
}

/** From the verify engine's series (every judged connection), else from the ladders. */
function cumulative(r: VerifyResult): Cumulative | null {
  const s = r.scheduling;
  if (s !== undefined) {
    const slices = s.perRs[0]?.counts.length ?? 0;
    const times = Array.from({ length: slices + 1 }, (_, i) => s.startMs + i * s.sliceMs);
    const perRs = new Map<string, number[]>();
    let counted = 0;
    for (const { rs, counts } of s.perRs) {
      let sum = 0;
      perRs.set(rs, [0, ...counts.map((n) => (sum += n))]);
      counted += sum;
    }
    return counted > 0 ? { times, perRs, counted } : null;
  }
  const conns = (r.connections ?? []).filter((c) => c.realServer !== null && Number.isFinite(isoMs(c.start)));
  if (conns.length === 0) return null;
  conns.sort((a, b) => isoMs(a.start) - isoMs(b.start));
  const rss = [...new Set(conns.map((c) => c.realServer!))].sort();
  const perRs = new Map(rss.map((ip) => [ip, [] as number[]]));
  const running = new Map(rss.map((ip) => [ip, 0]));
  const times: number[] = [];
  for (const c of conns) {
    times.push(isoMs(c.start));
    running.set(c.realServer!, running.get(c.realServer!)! + 1);
    for (const ip of rss) perRs.get(ip)!.push(running.get(ip)!);
  }
  return { times, perRs, counted: conns.length };
}

/** Connections per real server over time (cumulative), with each one's share by weight dashed. */
function schedulingChart(echarts: ECharts, r: VerifyResult): Markup | null {
  const cum = cumulative(r);
  if (cum === null) return null;
  const services = servicesOf(r);
  // Weights are meaningful against each other only within one service.
  const weights = new Map<string, number>();
  if (services.length === 1) for (const rs of services[0]!.realServers) weights.set(rs.ip, (weights.get(rs.ip) ?? 0) + rs.weight);
  const rss = [...cum.perRs.keys()];
  // A real server the weights name but no connection reached is a flat line at 0: worth seeing.
  for (const ip of weights.keys()) {
    if (cum.perRs.has(ip)) continue;
    rss.push(ip);
    cum.perRs.set(ip, cum.times.map(() => 0));
  }
  rss.sort();
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  const all = cum.times.map((_, i) => rss.reduce((n, ip) => n + cum.perRs.get(ip)![i]!, 0));
  const series: NonNullable<EChartsOption['series']> = [];
  rss.forEach((ip, k) => {
    const color = PALETTE[k % PALETTE.length]!;
    const w = weights.get(ip);
    const seen = cum.times.map((t, i) => [t, cum.perRs.get(ip)![i]!]);
    series.push({ type: 'line', step: 'end', name: `${ip}${w !== undefined ? ` (weight ${w})` : ''}`, data: seen, showSymbol: false, lineStyle: { color, width: 2 }, itemStyle: { color } });
    if (total > 0) {
      const expected = cum.times.map((t, i) => [t, (all[i]! * (w ?? 0)) / total]);
      series.push({ type: 'line', name: `${ip} by weight`, data: expected, showSymbol: false, lineStyle: { color, type: 'dashed', width: 1 }, itemStyle: { color } });
    }
  });
  const svg = svgOf(
    echarts,
    {
      title: { text: 'Connections per real server (solid) against their weights (dashed)', textStyle: { fontSize: 13 } },
      legend: { bottom: 0, type: 'plain' },
      grid: { top: 50, left: 50, right: 30, bottom: 70 },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', name: 'connections', minInterval: 1 },
      series,
    },
    360,
  );
  const judged = r.stats.connections;
  const capped = r.scheduling === undefined && judged !== undefined && judged > cum.counted;
  return html`<figure class="chart" id="chart-scheduling">${svg}<figcaption>Cumulative connections each real server received (${cum.counted} connection(s) whose real server is known), by the time of their first SYN${total > 0 ? ', and the share of the connections so far that the weights give it (dashed)' : ''}.${capped ? ` The first ${cum.counted} of ${judged} connections.` : ''}</figcaption></figure>`;
}

/** Which IPs the ARP chart is about: the VIPs of the services, else every IP with more than one MAC. */
function arpIps(r: VerifyResult, rows: readonly TimelineRow[]): string[] {
  const vips = new Set([...servicesOf(r).map((s) => s.vip).filter((v) => v !== ''), ...(r.arp?.directors ?? []).map((d) => d.vip)]);
  if (vips.size > 0) return [...vips].filter((v) => rows.some((x) => bareIp(x.ip) === v));
  const macs = new Map<string, Set<string>>();
  for (const x of rows) macs.set(bareIp(x.ip), (macs.get(bareIp(x.ip)) ?? new Set()).add(x.mac));
  return [...macs].filter(([, m]) => m.size > 1).map(([ip]) => ip);
}

function arpChart(echarts: ECharts, r: VerifyResult): Markup | null {
  const all = r.arpTimeline ?? [];
  const ips = arpIps(r, all);
  const rows = all.filter((x) => ips.includes(bareIp(x.ip)) && Number.isFinite(isoMs(x.firstSeen)) && Number.isFinite(isoMs(x.lastSeen)));
  if (rows.length === 0) return null;
  // Claims often fall within a millisecond of each other: the axis is ms from the first one.
  const t0 = Math.min(...rows.map((x) => isoMs(x.firstSeen)));
  const origin = rows.find((x) => isoMs(x.firstSeen) === t0)!.firstSeen;
  const label = (x: TimelineRow): string => `${x.ip}${x.vlan ? ` vlan ${x.vlan}` : ''} ${x.mac}${x.role ? ` (${x.role})` : ''}`;
  const cats = rows.map(label);
  const series: NonNullable<EChartsOption['series']> = rows.map((x, i) => ({
    type: 'line',
    name: cats[i]!,
    data: [
      [isoMs(x.firstSeen) - t0, cats[i]!],
      [isoMs(x.lastSeen) - t0, cats[i]!],
    ],
    symbolSize: 9,
    lineStyle: { width: 7, color: x.role === 'director' ? '#3d9970' : '#c0392b' },
    itemStyle: { color: x.role === 'director' ? '#3d9970' : '#c0392b' },
    label: { show: true, position: 'top', formatter: `${x.packets} ARP packet(s), ${x.gratuitous} gratuitous`, fontSize: 10 },
  }));
  const svg = svgOf(
    echarts,
    {
      title: { text: "Which MAC claimed the VIP, and when (ARP sender)", textStyle: { fontSize: 13 } },
      grid: { top: 40, left: 330, right: 30, bottom: 50 },
      xAxis: { type: 'value', name: `ms after ${origin}`, nameLocation: 'middle', nameGap: 26 },
      yAxis: { type: 'category', data: cats, axisLabel: { fontSize: 11 } },
      series,
    },
    Math.max(140, 90 + rows.length * 44),
  );
  return html`<figure class="chart" id="chart-arp">${svg}<figcaption>Each bar runs from the first to the last ARP packet a MAC sent as the VIP's owner; green the director, red any other MAC.</figcaption></figure>`;
}

function clockChart(echarts: ECharts, r: VerifyResult): Markup | null {
  const pts = r.points.filter((p) => p.clockOffsetMs !== null);
  if (pts.length < 2) return null;
  const spread = new Map((r.clockOffsets ?? []).map((c) => [c.point, c.spreadMs]));
  const svg = svgOf(
    echarts,
    {
      title: { text: 'Clock offset of each capture point against the reference', textStyle: { fontSize: 13 } },
      grid: { top: 40, left: 170, right: 130, bottom: 40 },
      xAxis: { type: 'value', name: 'ms' },
      yAxis: { type: 'category', data: pts.map((p) => p.point) },
      series: [
        {
          type: 'bar',
          data: pts.map((p) => p.clockOffsetMs!),
          label: {
            show: true,
            position: 'right',
            formatter: (x: { dataIndex: number }) => {
              const p = pts[x.dataIndex]!;
              const s = spread.get(p.point);
              return `${p.clockOffsetMs! >= 0 ? '+' : ''}${p.clockOffsetMs!.toFixed(3)} ms${s !== undefined ? ` ± ${s.toFixed(3)}` : ''}`;
            },
          },
        },
      ],
    },
    Math.max(140, 80 + pts.length * 36),
  );
  return html`<figure class="chart" id="chart-clocks">${svg}<figcaption>Offset estimated from packets seen unchanged at two points (± their spread); the report's times are corrected by it.</figcaption></figure>`;
}

export function chartsSection(r: VerifyResult): Markup {
  const wanted = r.scheduling !== undefined || (r.connections?.some((c) => c.realServer !== null) ?? false) || (r.arpTimeline?.length ?? 0) > 0 || r.points.filter((p) => p.clockOffsetMs !== null).length >= 2;
  if (!wanted) return html``;
  const echarts = createRequire(import.meta.url)('echarts') as ECharts;
  const charts = [schedulingChart(echarts, r), arpChart(echarts, r), clockChart(echarts, r)].filter((c): c is Markup => c !== null);
  if (charts.length === 0) return html``;
  return html`<section id="charts"><h2>Charts</h2>${charts}</section>`;
}
