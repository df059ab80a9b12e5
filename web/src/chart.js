// A small live line chart (uPlot) of one series over the last minutes: requests per second, or
// errors as a percentage of requests. The x range is always the last `windowS` seconds, so the line
// moves with time even while few points exist.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function options(width, height, color, minMax) {
  const grid = cssVar('--grid');
  const muted = cssVar('--muted');
  return {
    width,
    height,
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    padding: [6, 4, 0, 0],
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, Math.max(minMax, Math.ceil((max ?? 0) * 1.15))] },
    },
    axes: [
      { show: false },
      { size: 34, gap: 2, font: '10px system-ui, sans-serif', stroke: muted, ticks: { show: false }, grid: { stroke: grid, width: 1 }, splits: (_u, _i, min, max) => [min, (min + max) / 2, max], values: (_u, splits) => splits.map((v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v % 1 ? v.toFixed(1) : String(v))) },
    ],
    series: [{}, { stroke: color, width: 1.5, fill: color + '22', spanGaps: false, points: { show: false } }],
  };
}

/** `t`: ms timestamps; `values`: numbers or null (no sample). */
export function Chart({ t, values, color, minMax = 1, windowS = 300, height = 64, label }) {
  const box = useRef(null);
  const plot = useRef(null);

  const data = () => {
    const xs = t.map((ms) => ms / 1000);
    return [xs, values];
  };
  const range = () => {
    const now = (t.length ? t[t.length - 1] : Date.now()) / 1000;
    return { min: now - windowS, max: now };
  };

  useEffect(() => {
    const el = box.current;
    const u = new uPlot(options(Math.max(120, el.clientWidth), height, color, minMax), data(), el);
    u.setScale('x', range());
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(120, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [color, height, minMax]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data(), false);
    u.setScale('x', range());
  });

  return html`<div class="chart" ref=${box} role="img" aria-label=${label}></div>`;
}
