/** @jsxImportSource hono/jsx/dom */
/**
 * A hand-written SVG line chart: a few series over time, the y-axis scaled to the largest value.
 * Lines keep their width at any size (non-scaling-stroke), so the SVG stretches to its box.
 */

export type Series = { label: string; className: string; values: number[] }

const width = 600
const height = 160

function path(values: number[], max: number): string {
  if (values.length === 0) return ''
  const step = values.length > 1 ? width / (values.length - 1) : 0
  return values.map((value, index) => `${index === 0 ? 'M' : 'L'}${(index * step).toFixed(1)},${(height - (value / max) * height).toFixed(1)}`).join('')
}

export function LineChart(props: { title: string; unit: string; series: Series[]; spanLabel: string }) {
  const max = Math.max(1, ...props.series.flatMap((series) => series.values))
  const latest = props.series.map((series) => series.values.at(-1) ?? 0)
  const summary = props.series.map((series, index) => `${series.label} ${format(latest[index] ?? 0)} ${props.unit}`).join(', ')
  return (
    <figure class="chart">
      <figcaption>
        <span class="chart-title">{props.title}</span>
        <span class="legend">
          {props.series.map((series, index) => (
            <span class={`key ${series.className}`}>{series.label} <b>{format(latest[index] ?? 0)}</b></span>
          ))}
        </span>
      </figcaption>
      <div class="plot">
        <span class="axis-max">{format(max)} {props.unit}</span>
        <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${props.title}: ${summary}`}>
          <line class="grid" x1="0" x2={width} y1={height / 2} y2={height / 2} />
          {props.series.map((series) => <path class={`line ${series.className}`} d={path(series.values, max)} vector-effect="non-scaling-stroke" />)}
        </svg>
        <span class="axis-span">{props.spanLabel}</span>
      </div>
    </figure>
  )
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toString() : value.toFixed(1)
}
