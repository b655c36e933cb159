// A line chart of time series (Apache ECharts, canvas renderer, only the parts used). The
// colours come from the theme's custom properties, read again when the theme changes. The
// chart has a text alternative: its title and the latest value of each series.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { useSettings } from '../context';

echarts.use([LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export interface Series {
  name: string;
  points: [number, number][]; // [ms timestamp, value]
}

function timeRange(series: Series[]): { min?: number; max?: number } {
  const ts = series.flatMap((s) => s.points.map((p) => p[0]));
  if (ts.length === 0) return {};
  const max = Math.max(...ts);
  return { max, min: Math.min(Math.min(...ts), max - 60000) };
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function TimeChart({
  title,
  series,
  format,
  summary,
}: {
  title: string;
  series: Series[];
  format: (v: number) => string;
  summary: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const { settings } = useSettings();

  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const text = cssVar('--text');
    const muted = cssVar('--muted');
    const grid = cssVar('--border-soft');
    const colors = ['--c1', '--c2', '--c3', '--c4'].map(cssVar);
    c.setOption(
      {
        animation: false,
        color: colors,
        grid: { left: 64, right: 16, top: 32, bottom: 28 },
        legend: { top: 0, textStyle: { color: text } },
        tooltip: {
          trigger: 'axis',
          valueFormatter: (v: unknown) => format(Number(v)),
          backgroundColor: cssVar('--surface'),
          borderColor: cssVar('--border'),
          textStyle: { color: text },
        },
        xAxis: {
          type: 'time',
          // At least the last minute, at most the history kept (events.ts).
          ...timeRange(series),
          axisLabel: { color: muted, hideOverlap: true },
          axisLine: { lineStyle: { color: grid } },
          splitLine: { show: false },
        },
        yAxis: {
          type: 'value',
          min: 0,
          splitNumber: 4,
          axisLabel: { color: muted, formatter: (v: number) => format(v) },
          splitLine: { lineStyle: { color: grid } },
        },
        series: series.map((s) => ({ name: s.name, type: 'line', showSymbol: s.points.length < 3, data: s.points, lineStyle: { width: 2 } })),
      },
      { replaceMerge: ['series'] },
    );
  }, [series, settings.theme, format]);

  return (
    <figure className="card" style={{ margin: 0 }}>
      <figcaption>
        <h2>{title}</h2>
        <p className="sr-only">{summary}</p>
      </figcaption>
      <div ref={el} className="chart" role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}
