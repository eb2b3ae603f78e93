// One guard's chart as inline SVG: the estimate over event time with its always-valid band
// (lower..upper) and the threshold as a dashed line, like a difference chart. Pure string building,
// every text escaped; no script, no external resource, so the page works offline.

import type { HistoryPoint, MetricName } from '../verdict/verdict-history.js';

const W = 520;
const H = 160;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 10_000)) return v.toExponential(1);
  return Number(v.toFixed(a < 1 ? 3 : 1)).toString();
}

function shortTime(ms: number): string {
  return new Date(ms).toISOString().slice(5, 16).replace('T', ' ');
}

const LABELS: Record<MetricName, string> = { activation: 'activation rate', retention: 'retention rate', latencyP95: 'latency P95 (ms)' };

export function guardChart(metric: MetricName, points: readonly HistoryPoint[], title: string): string {
  const pts = points.filter((p) => p.metrics[metric].estimate !== null);
  const threshold = points.length > 0 ? points[points.length - 1].metrics[metric].threshold : 0;
  const label = escapeHtml(title);
  if (pts.length === 0) {
    return `<svg class="chart" role="img" aria-label="${label}: no estimate yet" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="empty">no estimate yet</text></svg>`;
  }
  const xs = pts.map((p) => p.at);
  const ys = pts.flatMap((p) => {
    const m = p.metrics[metric];
    return [m.estimate!, m.lower ?? m.estimate!, m.upper ?? m.estimate!];
  });
  ys.push(threshold);
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5 * Math.abs(y0 || 1), y1 + 0.5 * Math.abs(y1 || 1)];
  const pad = (y1 - y0) * 0.08;
  y0 -= pad;
  y1 += pad;
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x1 === x0) [x0, x1] = [x0 - 60_000, x1 + 60_000];
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => PAD.top + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const xy = (x: number, y: number) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
  const upper = pts.map((p) => xy(p.at, p.metrics[metric].upper ?? p.metrics[metric].estimate!));
  const lower = pts.map((p) => xy(p.at, p.metrics[metric].lower ?? p.metrics[metric].estimate!)).reverse();
  const line = pts.map((p) => xy(p.at, p.metrics[metric].estimate!)).join(' ');
  const failed = pts.filter((p) => p.metrics[metric].status === 'fail');
  const last = pts[pts.length - 1].metrics[metric];
  const ty = sy(threshold).toFixed(1);
  return [
    `<svg class="chart" role="img" aria-label="${label}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`,
    `<title>${label}: estimate ${fmt(last.estimate!)}, bounds [${last.lower === null ? '–' : fmt(last.lower)}, ${last.upper === null ? '–' : fmt(last.upper)}], threshold ${fmt(threshold)}, n=${last.n}</title>`,
    `<text class="tick metric-label" x="${PAD.left + 4}" y="${PAD.top + 10}">${LABELS[metric]}: ${fmt(last.estimate!)} [${last.lower === null ? '–' : fmt(last.lower)}, ${last.upper === null ? '–' : fmt(last.upper)}], n=${last.n}</text>`,
    `<line class="axis" x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}"/>`,
    `<line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}"/>`,
    `<text class="tick" x="${PAD.left - 4}" y="${sy(y1 - pad).toFixed(1)}" text-anchor="end">${fmt(y1 - pad)}</text>`,
    `<text class="tick" x="${PAD.left - 4}" y="${sy(y0 + pad).toFixed(1)}" text-anchor="end">${fmt(y0 + pad)}</text>`,
    `<text class="tick" x="${PAD.left}" y="${H - 8}">${shortTime(x0)}</text>`,
    `<text class="tick" x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${shortTime(x1)} (event time, UTC)</text>`,
    `<polygon class="band" points="${[...upper, ...lower].join(' ')}"/>`,
    `<line class="threshold" x1="${PAD.left}" y1="${ty}" x2="${W - PAD.right}" y2="${ty}"/>`,
    `<text class="tick threshold-label" x="${W - PAD.right}" y="${(Number(ty) - 3).toFixed(1)}" text-anchor="end">threshold ${fmt(threshold)}</text>`,
    `<polyline class="estimate" points="${line}"/>`,
    ...failed.slice(0, 1).map((p) => `<circle class="fail-mark" cx="${sx(p.at).toFixed(1)}" cy="${sy(p.metrics[metric].estimate!).toFixed(1)}" r="4"/>`),
    '</svg>',
  ].join('');
}
