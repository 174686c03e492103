import * as echarts from 'echarts';
const c = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 300, height: 200 });
c.setOption({ animation:false, xAxis: { type: 'category', data: ['a','b'] }, yAxis: {}, series: [{ type: 'bar', data: [1, 2] }] });
const s = c.renderToSVGString(); console.log(s.length, s.slice(0,80));
import { chromium } from 'playwright-core';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const p = await b.newPage(); await p.setContent('<p>hi</p>'); console.log(await p.textContent('p')); await b.close();
