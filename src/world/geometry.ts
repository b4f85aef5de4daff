// Shape outlines in unit space (centre at 0, y down, scale 1) with point-inside tests,
// extents and areas: the single definition the rasteriser, boxes and areas all use.

import type { Shape } from './vocabulary.js';

/** A closed polygon as flat [x0, y0, x1, y1, ...] in unit space. */
export type Polygon = readonly number[];

/** Extent of a shape in unit space. */
export interface UnitExtent {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

/** Half-side of the square relative to the circle's radius, so the two look equally big. */
const SQUARE_HALF = 0.86;
/** Inner radius of the star's notches relative to its points. */
const STAR_INNER = 0.45;
const STAR_POINTS = 5;

function regularPolygon(corners: number, radius: number, startAngle: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < corners; i++) {
    const a = startAngle + (2 * Math.PI * i) / corners;
    out.push(radius * Math.cos(a), radius * Math.sin(a));
  }
  return out;
}

function starPolygon(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 2 * STAR_POINTS; i++) {
    const r = i % 2 === 0 ? 1 : STAR_INNER;
    const a = -Math.PI / 2 + (Math.PI * i) / STAR_POINTS;
    out.push(r * Math.cos(a), r * Math.sin(a));
  }
  return out;
}

/** Polygon outline of every shape except the circle (which is exact). */
const POLYGONS: { readonly [S in Exclude<Shape, 'circle'>]: Polygon } = {
  square: [-SQUARE_HALF, -SQUARE_HALF, SQUARE_HALF, -SQUARE_HALF, SQUARE_HALF, SQUARE_HALF, -SQUARE_HALF, SQUARE_HALF],
  triangle: [0, -0.95, 0.98, 0.8, -0.98, 0.8],
  diamond: [0, -1, 0.78, 0, 0, 1, -0.78, 0],
  star: starPolygon(),
  hexagon: regularPolygon(6, 1, 0),
};

/** The polygon of a shape, or undefined for the circle. */
export function shapePolygon(shape: Shape): Polygon | undefined {
  return shape === 'circle' ? undefined : POLYGONS[shape];
}

/** Even-odd point-in-polygon test (correct for the star, which is not convex). */
function insidePolygon(poly: Polygon, x: number, y: number): boolean {
  let inside = false;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly[2 * i]!;
    const yi = poly[2 * i + 1]!;
    const xj = poly[2 * j]!;
    const yj = poly[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether unit-space point (x, y) lies inside the shape. */
export function insideShape(shape: Shape, x: number, y: number): boolean {
  if (shape === 'circle') return x * x + y * y <= 1;
  return insidePolygon(POLYGONS[shape], x, y);
}

function polygonExtent(poly: Polygon): UnitExtent {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < poly.length; i += 2) {
    minX = Math.min(minX, poly[i]!);
    maxX = Math.max(maxX, poly[i]!);
    minY = Math.min(minY, poly[i + 1]!);
    maxY = Math.max(maxY, poly[i + 1]!);
  }
  return { minX, minY, maxX, maxY };
}

/** Tight extent of a shape in unit space. */
export function shapeExtent(shape: Shape): UnitExtent {
  if (shape === 'circle') return { minX: -1, minY: -1, maxX: 1, maxY: 1 };
  return polygonExtent(POLYGONS[shape]);
}

/** Area of a shape in unit space (shoelace formula; pi for the circle). */
export function shapeUnitArea(shape: Shape): number {
  if (shape === 'circle') return Math.PI;
  const poly = POLYGONS[shape];
  let twice = 0;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) twice += poly[2 * j]! * poly[2 * i + 1]! - poly[2 * i]! * poly[2 * j + 1]!;
  return Math.abs(twice) / 2;
}

function segmentDistanceSquared(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  const ex = px - (ax + t * dx);
  const ey = py - (ay + t * dy);
  return ex * ex + ey * ey;
}

/** Whether a point (unit space) lies within distance `r` of the shape's outline. */
export function nearOutline(shape: Shape, x: number, y: number, r: number): boolean {
  if (shape === 'circle') return Math.abs(Math.sqrt(x * x + y * y) - 1) <= r;
  const poly = POLYGONS[shape];
  const n = poly.length / 2;
  const r2 = r * r;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    if (segmentDistanceSquared(x, y, poly[2 * j]!, poly[2 * j + 1]!, poly[2 * i]!, poly[2 * i + 1]!) <= r2) return true;
  }
  return false;
}
