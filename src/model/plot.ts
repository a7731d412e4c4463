/**
 * The loss-curve plot: vega-lite renders an SVG (no canvas needed), resvg
 * turns it into a PNG. Both files are written.
 */
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export interface CurvePoint {
  step: number;
  loss: number;
  series: string;
}

/** Writes `<base>.svg` and `<base>.png`; returns their paths.
 *
 * @example
 * await plotLossCurve('out/loss', [{ step: 0, loss: 3.3, series: 'train' }, { step: 1, loss: 2.9, series: 'train' }], 'run 1', 1.26);
 */
export async function plotLossCurve(base: string, points: CurvePoint[], title: string, floor?: number): Promise<{ svg: string; png: string }> {
  const layers: vl.TopLevelSpec[] | object[] = [
    {
      mark: { type: 'line', interpolate: 'monotone' },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'loss', type: 'quantitative', title: 'cross-entropy (nats / character)', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  ];
  if (floor !== undefined) {
    const floorData = { values: [{ floor, label: `entropy floor ${floor.toFixed(4)}` }] };
    (layers as object[]).push(
      {
        data: floorData,
        mark: { type: 'rule', strokeDash: [6, 4], color: 'black' },
        encoding: { y: { field: 'floor', type: 'quantitative' } },
      },
      {
        data: floorData,
        mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -4, x: 'width', color: 'black' },
        encoding: { y: { field: 'floor', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 300,
    data: { values: points },
    layer: layers,
  };
  const compiled = vl.compile(spec as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const svgPath = `${base}.svg`;
  const pngPath = `${base}.png`;
  writeFileSync(svgPath, svg);
  writeFileSync(pngPath, new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 } }).render().asPng());
  return { svg: svgPath, png: pngPath };
}
