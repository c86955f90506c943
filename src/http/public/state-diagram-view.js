// Draws the job machine's seven top-level states and their transitions as SVG, with the
// job's current state lit and the path it actually took drawn in colour.
import { s } from './dom-builder.js';

const nodeW = 112;
const nodeH = 40;
// The happy path runs left to right; the two other final states sit underneath.
const positions = {
  queued: [80, 56],
  submitted: [232, 56],
  processing: [384, 56],
  moving: [536, 56],
  completed: [688, 56],
  cancelled: [232, 196],
  failed: [536, 196],
};

/** Where the line from `c` towards `toward` leaves the node's rectangle. */
function borderPoint([cx, cy], [tx, ty]) {
  const dx = tx - cx;
  const dy = ty - cy;
  const scale = 1 / Math.max(Math.abs(dx) / (nodeW / 2 + 4), Math.abs(dy) / (nodeH / 2 + 4), 1e-9);
  return [cx + dx * scale, cy + dy * scale];
}

function edgePath(from, to) {
  const a = positions[from];
  const b = positions[to];
  const sameRow = a[1] === b[1];
  const skips = sameRow && Math.abs(a[0] - b[0]) > 160;
  const backwards = sameRow && b[0] < a[0];
  // Forward steps are straight; forward skips arc above; steps back (a slot given back, a
  // resubmit) arc below when adjacent and high above when they skip, so no two overlap.
  const mx = (a[0] + b[0]) / 2;
  const my = (a[1] + b[1]) / 2;
  let control;
  if (backwards) control = [mx, skips ? a[1] - 104 : a[1] + 44];
  else if (skips) control = [mx, a[1] - 62];
  else if (sameRow) control = [mx, my];
  else control = [mx + (b[0] > a[0] ? -18 : 18), my + 8];
  const start = borderPoint(a, control);
  const end = borderPoint(b, control);
  return `M ${start[0].toFixed(1)} ${start[1].toFixed(1)} Q ${control[0].toFixed(1)} ${control[1].toFixed(1)} ${end[0].toFixed(1)} ${end[1].toFixed(1)}`;
}

/**
 * @param diagram {states, finals, edges:[{from,to,events}]} from /api/machine
 * @param job the JobView
 * @param events the job's transitions (from_state/to_state may be dotted sub-states)
 */
export function renderStateDiagram(diagram, job, events) {
  const top = (name) => (name ? String(name).split('.')[0] : null);
  const visited = new Set(events.map((e) => top(e.to_state)));
  const taken = new Set(events.filter((e) => e.from_state).map((e) => `${top(e.from_state)}>${top(e.to_state)}`));

  const svg = s('svg', { viewBox: '0 -20 768 260', class: 'state-diagram', role: 'img', 'aria-label': `job machine, current state ${job.state}` });
  svg.append(
    s(
      'defs',
      {},
      s(
        'marker',
        { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }),
      ),
      s(
        'marker',
        { id: 'arrow-taken', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head taken' }),
      ),
    ),
  );

  for (const edge of diagram.edges) {
    if (!positions[edge.from] || !positions[edge.to]) continue;
    const wasTaken = taken.has(`${edge.from}>${edge.to}`);
    svg.append(
      s(
        'path',
        {
          d: edgePath(edge.from, edge.to),
          class: `edge${wasTaken ? ' taken' : ''}`,
          'marker-end': `url(#${wasTaken ? 'arrow-taken' : 'arrow'})`,
          'data-edge': `${edge.from}>${edge.to}`,
        },
        s('title', {}, `${edge.from} → ${edge.to}: ${edge.events.join(', ')}`),
      ),
    );
  }

  for (const state of diagram.states) {
    const pos = positions[state];
    if (!pos) continue;
    const current = state === job.state;
    const classes = ['node', `state-${state}`, current ? 'current' : '', visited.has(state) ? 'visited' : '', diagram.finals.includes(state) ? 'final' : ''];
    const group = s(
      'g',
      { class: classes.filter(Boolean).join(' '), 'data-state': state, transform: `translate(${pos[0] - nodeW / 2} ${pos[1] - nodeH / 2})` },
      s('rect', { width: nodeW, height: nodeH, rx: 10 }),
      diagram.finals.includes(state) ? s('rect', { x: 3, y: 3, width: nodeW - 6, height: nodeH - 6, rx: 8, class: 'final-ring' }) : null,
      s('text', { x: nodeW / 2, y: nodeH / 2 + 5, 'text-anchor': 'middle' }, state),
    );
    if (current && job.substate && job.substate !== state) {
      group.append(s('text', { x: nodeW / 2, y: nodeH + 16, 'text-anchor': 'middle', class: 'substate' }, job.substate));
    }
    svg.append(group);
  }
  return svg;
}
