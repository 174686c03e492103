/**
 * `arp --format html`: the ARP report drawn with the verify report's sections. The ARP report has
 * no rule tally, so one is made here the way `verify` makes the ARP rows of its own (checked: the
 * ARP packets read; not evaluated with the analysis's reason; fail where a finding is).
 */
import { ARP_RULES, type ArpReport } from '../../arp/index.js';
import { hasError } from '../../model/findings.js';
import type { RuleTally, VerifyResult } from '../../model/result.js';
import { html, type Markup } from './markup.js';
import { renderHtml } from './page.js';

export function arpAsResult(r: ArpReport): VerifyResult {
  const reasons = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
  const rules: RuleTally[] = ARP_RULES.map((rule) => {
    const failed = r.findings.filter((f) => f.rule === rule).length;
    const status = reasons.has(rule) && failed === 0 ? 'not-evaluated' : failed > 0 ? 'fail' : 'pass';
    return { rule, status, checked: status === 'not-evaluated' ? 0 : r.stats.arpPackets, failed };
  });
  return {
    verdict: hasError(r.findings) ? 'fail' : 'pass',
    service: null,
    serviceInferred: false,
    profile: 'arp',
    points: [],
    findings: r.findings,
    notEvaluated: r.notEvaluated,
    rules,
    stats: { ...r.stats },
    arp: { directors: r.directors, roles: r.roles },
    ...(r.timeline.length > 0 ? { arpTimeline: r.timeline } : {}),
  };
}

function arpTables(r: ArpReport): Markup {
  return html`<section id="arp"><h2>ARP</h2>
<p>${r.stats.arpPackets} ARP packets${r.stats.ndpPackets > 0 ? ` (${r.stats.ndpPackets} of them neighbor discovery)` : ''} in ${r.stats.frames} frames.${r.stats.dropped > 0 ? ` ${r.stats.dropped} records dropped at the memory bound: counts are lower bounds.` : ''}</p>
<ul>${r.vips.map((v) => html`<li data-vip="${v.ip}">VIP ${v.ip} (${v.source})</li>`)}</ul>
${r.roles.length > 0 ? html`<h3>Roles</h3><table><thead><tr><th>role</th><th>MAC</th><th>addresses</th><th>how</th><th>why</th><th>frames</th></tr></thead><tbody>${r.roles.map((x) => html`<tr><td>${x.role.replace('-', ' ')}${x.vip !== undefined && x.role !== 'router' ? ` of ${x.vip}` : ''}</td><td><code>${x.mac}</code></td><td>${x.ips.join(', ')}</td><td>${x.how}, ${x.confidence}</td><td>${x.reason}</td><td>${x.evidence.map((e) => html`<code>${e.capture}#${e.frame}</code> `)}</td></tr>`)}</tbody></table>` : ''}
${r.timeline.length > 0 ? html`<h3>ARP sender timeline</h3><table><thead><tr><th>VLAN</th><th>IP</th><th>MAC</th><th>first seen</th><th>last seen</th><th>pkts</th><th>req</th><th>rep</th><th>garp</th><th>role</th></tr></thead><tbody>${r.timeline.map((x) => html`<tr><td>${x.vlan || '-'}</td><td>${x.ip}</td><td><code>${x.mac}</code></td><td>${x.firstSeen}</td><td>${x.lastSeen}</td><td class="num">${x.packets}</td><td class="num">${x.requests}</td><td class="num">${x.replies}</td><td class="num">${x.gratuitous}</td><td>${x.role}</td></tr>`)}</tbody></table>` : ''}
</section>`;
}

export function renderArpHtml(r: ArpReport): string {
  return renderHtml(arpAsResult(r), { command: 'arp', serviceLines: [], extra: arpTables(r) });
}
