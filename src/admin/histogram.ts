// A labelled Prometheus histogram: fixed upper bounds, one series per label set. Observing
// costs a short bucket scan once per connection (never per chunk); rendering accumulates.
import type { ExpositionWriter, Labels } from "./exposition.ts";

interface Series {
  readonly labels: Labels;
  /** Per-bucket counts, not cumulative; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram {
  readonly name: string;
  readonly help: string;
  readonly bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(o: { name: string; help: string; bounds: readonly number[] }) {
    this.name = o.name;
    this.help = o.help;
    this.bounds = [...o.bounds].sort((a, b) => a - b);
  }

  /**
   * `key` identifies the label set; `labelsOf(key)` gives the labels of a new series (a shared
   * function, so an observation allocates nothing once its series exists).
   */
  observe(key: string, labelsOf: (key: string) => Labels, value: number): void {
    let s = this.#series.get(key);
    if (!s) {
      s = {
        labels: labelsOf(key),
        counts: new Float64Array(this.bounds.length + 1),
        sum: 0,
        count: 0,
      };
      this.#series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }

  /** Drops series whose key fails `keep` (listeners and backends that no longer exist). */
  prune(keep: (key: string) => boolean): void {
    for (const key of this.#series.keys()) if (!keep(key)) this.#series.delete(key);
  }

  get size(): number {
    return this.#series.size;
  }

  write(w: ExpositionWriter): void {
    w.family(this.name, "histogram", this.help);
    for (const s of this.#series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i] ?? 0;
        w.sample(`${this.name}_bucket`, { ...s.labels, le: String(this.bounds[i]) }, acc);
      }
      w.sample(`${this.name}_bucket`, { ...s.labels, le: "+Inf" }, s.count);
      w.sample(`${this.name}_sum`, s.labels, s.sum);
      w.sample(`${this.name}_count`, s.labels, s.count);
    }
  }
}
