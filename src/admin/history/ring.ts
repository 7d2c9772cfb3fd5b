// Fixed-size rings of per-second samples: one slot per second, `capacity` slots, allocated once.
// Pure: the caller passes the second (epoch seconds) it writes or reads; nothing here keeps time.
//
// A group shares one Uint32Array of slot times between its columns: a slot holds the sample of
// second `s` only while secs[s % capacity] === s, so a second the sampler skipped reads as a gap
// (null) instead of an old value, and wrap-around needs no clearing.

export type ColumnKind = "u8" | "u32" | "f64";

export class RingGroup {
  readonly capacity: number;
  private readonly secs: Uint32Array;
  readonly columns: readonly (Uint8Array | Uint32Array | Float64Array)[];
  /** The last second written, or -1. */
  last = -1;

  constructor(capacity: number, kinds: readonly ColumnKind[]) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity >= 1");
    this.capacity = capacity;
    this.secs = new Uint32Array(capacity);
    this.columns = kinds.map((k) =>
      k === "u8"
        ? new Uint8Array(capacity)
        : k === "u32"
        ? new Uint32Array(capacity)
        : new Float64Array(capacity)
    );
  }

  /** Bytes held by the typed arrays (the ring's whole cost but a few object headers). */
  get bytes(): number {
    let n = this.secs.byteLength;
    for (const c of this.columns) n += c.byteLength;
    return n;
  }

  /** Writes the sample of second `sec` (epoch seconds, > 0); a second already written is replaced. */
  write(sec: number, values: ArrayLike<number>): void {
    const i = sec % this.capacity;
    this.secs[i] = sec;
    for (let c = 0; c < this.columns.length; c++) this.columns[c]![i] = values[c] ?? 0;
    if (sec > this.last) this.last = sec;
  }

  /** Whether second `sec` holds a sample (it is neither skipped nor overwritten by a later one). */
  has(sec: number): boolean {
    return sec > 0 && this.secs[sec % this.capacity] === sec;
  }

  /** The value of column `col` at second `sec`, or undefined for a gap. */
  get(sec: number, col: number): number | undefined {
    const i = sec % this.capacity;
    return sec > 0 && this.secs[i] === sec ? this.columns[col]![i] : undefined;
  }
}

export type Agg = "avg" | "max";

/**
 * Buckets of `step` seconds over [from, to] (from aligned down to a multiple of step): for each,
 * the average or the maximum of the seconds that hold a sample, null when none does. `pick`
 * replaces the aggregate (state columns take the most severe state).
 */
export function downsample(
  ring: RingGroup,
  col: number,
  from: number,
  to: number,
  step: number,
  agg: Agg | ((values: readonly number[]) => number),
): (number | null)[] {
  const out: (number | null)[] = [];
  const start = from - (from % step);
  const vals: number[] = [];
  for (let b = start; b <= to; b += step) {
    vals.length = 0;
    const end = Math.min(b + step - 1, to);
    for (let s = Math.max(b, from); s <= end; s++) {
      const v = ring.get(s, col);
      if (v !== undefined) vals.push(v);
    }
    if (vals.length === 0) out.push(null);
    else if (typeof agg === "function") out.push(agg(vals));
    else if (agg === "max") out.push(Math.max(...vals));
    else {
      let sum = 0;
      for (const v of vals) sum += v;
      out.push(sum / vals.length);
    }
  }
  return out;
}

/** The bucket start times (epoch seconds) `downsample` returns values for. */
export function bucketTimes(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let b = from - (from % step); b <= to; b += step) out.push(b);
  return out;
}
