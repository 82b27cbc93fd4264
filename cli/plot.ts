/**
 * The accuracy-against-learning-rate plot: a Vega-Lite spec compiled to Vega and rendered to SVG
 * headlessly (renderer 'none' with toSVG needs no browser or canvas).
 */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

import type { MethodSummary } from './report.js';

export interface PlotOptions {
  title: string;
  subtitle: string;
}

/**
 * Plots one line per method: test accuracy (%) against learning rate on a log axis, one point per
 * run. Each method has its own color and marker shape, so methods whose lines coincide stay
 * distinguishable. A marker with a white center is a run whose loss became NaN or infinite.
 */
export function accuracyPlotSpec(summaries: readonly MethodSummary[], lrs: readonly number[], options: PlotOptions): vegaLite.TopLevelSpec {
  const values = summaries.flatMap((summary) =>
    summary.accuracies.map((accuracy, i) => ({
      method: summary.label,
      lr: lrs[i],
      accuracy: 100 * accuracy,
      diverged: summary.diverged[i],
    })),
  );
  const methods = summaries.map((summary) => summary.label);

  const x = {
    field: 'lr',
    type: 'quantitative' as const,
    title: 'learning rate (log scale)',
    scale: { type: 'log' as const, domain: [Math.min(...lrs) / 1.25, Math.max(...lrs) * 1.25], nice: false },
    axis: { values: [...lrs], format: '.0e', labelFlush: false },
  };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'test accuracy (%)', scale: { zero: false, nice: true } };
  const color = { field: 'method', type: 'nominal' as const, title: 'method', sort: methods, scale: { scheme: 'category10' } };

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: options.subtitle },
    width: 520,
    height: 320,
    background: 'white',
    padding: 12,
    data: { values },
    layer: [
      { mark: { type: 'line', strokeWidth: 2, opacity: 0.8 }, encoding: { x, y, color } },
      {
        mark: { type: 'point', size: 70, filled: true, opacity: 1 },
        encoding: {
          x,
          y,
          color,
          shape: { field: 'method', type: 'nominal', title: 'method', sort: methods },
          tooltip: [
            { field: 'method', type: 'nominal' },
            { field: 'lr', type: 'quantitative', format: '.1e' },
            { field: 'accuracy', type: 'quantitative', format: '.1f' },
            { field: 'diverged', type: 'nominal' },
          ],
        },
      },
      // A white dot inside the marker of every diverged run makes it look hollow.
      {
        transform: [{ filter: 'datum.diverged' }],
        mark: { type: 'point', size: 18, filled: true, color: 'white', opacity: 1 },
        encoding: { x, y },
      },
    ],
  };
}

/** Renders a Vega-Lite spec to an SVG document string. */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
