// Turns samples into medians, ratios to HAProxy, the issue's targets, a text table, a JSON
// record and an SVG chart of the ratios.
import type { TargetName } from "./targets.ts";

export interface Metric {
  readonly key: string;
  readonly label: string;
  readonly better: "higher" | "lower";
  readonly digits: number;
}

export const METRICS: readonly Metric[] = [
  { key: "conn_rate", label: "connections/s (50 conc, 100 B echo)", better: "higher", digits: 0 },
  { key: "conn_p99_us", label: "  connection p99 latency, us", better: "lower", digits: 0 },
  { key: "pp_rate", label: "ping-pong msg/s (50 conns)", better: "higher", digits: 0 },
  { key: "pp_p50_us", label: "  ping-pong p50 latency, us", better: "lower", digits: 0 },
  { key: "pp_p99_us", label: "  ping-pong p99 latency, us", better: "lower", digits: 0 },
  { key: "bulk1_gbps", label: "bulk 1 stream, Gbit/s", better: "higher", digits: 2 },
  { key: "bulk8_gbps", label: "bulk 8 streams, Gbit/s", better: "higher", digits: 2 },
  { key: "sni_hs_rate", label: "TLS handshakes/s routed by SNI", better: "higher", digits: 0 },
  { key: "idle_1k_kib", label: "KiB per idle connection (1k)", better: "lower", digits: 1 },
  { key: "idle_10k_kib", label: "KiB per idle connection (10k*)", better: "lower", digits: 1 },
  { key: "conn_proxy_cpu", label: "  proxy CPU % during conn test", better: "lower", digits: 0 },
  { key: "conn_gen_cpu", label: "  CPU 0 (generator) busy % (conn)", better: "lower", digits: 0 },
  { key: "pp_proxy_cpu", label: "  proxy CPU % during ping-pong", better: "lower", digits: 0 },
  {
    key: "pp_gen_cpu",
    label: "  CPU 0 (generator) busy % (ping-pong)",
    better: "lower",
    digits: 0,
  },
];

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Samples: target -> metric -> values (one per repetition). */
export type Samples = Map<TargetName, Map<string, number[]>>;

export function addSample(s: Samples, t: TargetName, values: Record<string, number>): void {
  let m = s.get(t);
  if (!m) s.set(t, m = new Map());
  for (const [k, v] of Object.entries(values)) {
    let l = m.get(k);
    if (!l) m.set(k, l = []);
    l.push(v);
  }
}

export type Medians = Record<string, Record<string, number>>;

export function medians(s: Samples): Medians {
  const out: Medians = {};
  for (const [t, m] of s) {
    out[t] = {};
    for (const [k, v] of m) out[t]![k] = median(v);
  }
  return out;
}

/** Spread of the repetitions: (max - min) / median, in percent. */
export function spreads(s: Samples): Medians {
  const out: Medians = {};
  for (const [t, m] of s) {
    out[t] = {};
    for (const [k, v] of m) {
      const f = v.filter(Number.isFinite);
      if (f.length < 2) continue;
      const md = median(f);
      out[t]![k] = md ? Math.round((Math.max(...f) - Math.min(...f)) / md * 1000) / 10 : NaN;
    }
  }
  return out;
}

export function ratio(m: Medians, t: string, key: string): number {
  const h = m["haproxy"]?.[key];
  const v = m[t]?.[key];
  return h && v !== undefined && Number.isFinite(v) ? v / h : NaN;
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  return v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function table(m: Medians, targets: readonly string[]): string {
  const head = ["metric (median)", ...targets];
  const rows: string[][] = [];
  for (const x of METRICS) {
    if (!targets.some((t) => m[t]?.[x.key] !== undefined)) continue;
    rows.push([
      x.label,
      ...targets.map((t) => {
        const v = m[t]?.[x.key];
        if (v === undefined) return "";
        const r = ratio(m, t, x.key);
        return t === "haproxy" || !Number.isFinite(r) || x.key.endsWith("_cpu")
          ? fmt(v, x.digits)
          : `${fmt(v, x.digits)} (${r.toFixed(2)})`;
      }),
    ]);
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

export interface Goal {
  readonly what: string;
  readonly target: string;
  readonly key: string;
  /** "ratio": compared with HAProxy; "abs": the median itself. */
  readonly kind: "ratio" | "abs";
  readonly op: ">=" | "<=" | "<";
  readonly limit: number;
}

/** The targets of issue 7. */
export const GOALS: readonly Goal[] = [
  {
    what: "bun connection rate",
    target: "bun",
    key: "conn_rate",
    kind: "ratio",
    op: ">=",
    limit: 1.0,
  },
  {
    what: "bun ping-pong rate",
    target: "bun",
    key: "pp_rate",
    kind: "ratio",
    op: ">=",
    limit: 1.0,
  },
  {
    what: "bun ping-pong p99",
    target: "bun",
    key: "pp_p99_us",
    kind: "ratio",
    op: "<=",
    limit: 1.0,
  },
  {
    what: "bun single-stream throughput",
    target: "bun",
    key: "bulk1_gbps",
    kind: "ratio",
    op: ">=",
    limit: 1.8,
  },
  {
    what: "bun KiB per idle conn (10k*)",
    target: "bun",
    key: "idle_10k_kib",
    kind: "abs",
    op: "<=",
    limit: 4,
  },
  {
    what: "deno connection rate",
    target: "deno",
    key: "conn_rate",
    kind: "ratio",
    op: ">=",
    limit: 0.8,
  },
  {
    what: "deno ping-pong rate",
    target: "deno",
    key: "pp_rate",
    kind: "ratio",
    op: ">=",
    limit: 0.85,
  },
  {
    what: "deno KiB per idle conn (10k*)",
    target: "deno",
    key: "idle_10k_kib",
    kind: "abs",
    op: "<=",
    limit: 24,
  },
  {
    what: "5,000 listeners open (hot, from the file write)",
    target: "scale",
    key: "open_hot_ms",
    kind: "abs",
    op: "<",
    limit: 2000,
  },
  {
    what: "one change applied (rename-saved file -> accept)",
    target: "scale",
    key: "change_net_ms",
    kind: "abs",
    op: "<",
    limit: 10,
  },
  {
    what: "idle CPU with 5,000 listeners, %",
    target: "scale",
    key: "idle_cpu_pct",
    kind: "abs",
    op: "<",
    limit: 1,
  },
];

export interface GoalResult {
  readonly goal: Goal;
  readonly runtime: string;
  readonly value: number;
  readonly met: boolean | undefined;
}

export function checkGoals(
  m: Medians,
  scale: Record<string, Record<string, number>>,
): GoalResult[] {
  const out: GoalResult[] = [];
  for (const g of GOALS) {
    const runtimes = g.target === "scale" ? Object.keys(scale) : [g.target];
    for (const rt of runtimes) {
      const value = g.target === "scale"
        ? scale[rt]?.[g.key] ?? NaN
        : g.kind === "ratio"
        ? ratio(m, g.target, g.key)
        : m[g.target]?.[g.key] ?? NaN;
      const met = !Number.isFinite(value)
        ? undefined
        : g.op === ">="
        ? value >= g.limit
        : g.op === "<="
        ? value <= g.limit
        : value < g.limit;
      out.push({ goal: g, runtime: rt, value, met });
    }
  }
  return out;
}

export function goalLines(r: readonly GoalResult[]): string {
  return r.map(({ goal: g, runtime, value, met }) => {
    const v = Number.isFinite(value)
      ? (g.kind === "ratio" ? value.toFixed(2) : value.toFixed(1))
      : "n/a";
    const status = met === undefined ? "NOT MEASURED" : met ? "met" : "NOT MET";
    const name = g.target === "scale" ? `${runtime}: ${g.what}` : g.what;
    return `${status.padEnd(12)} ${name}: ${v} (target ${g.op} ${g.limit}${
      g.kind === "ratio" ? " x HAProxy" : ""
    })`;
  }).join("\n");
}

const COLORS: Record<string, string> = {
  direct: "#9e9e9e",
  haproxy: "#1f77b4",
  nginx: "#2ca02c",
  deno: "#111111",
  bun: "#d62728",
};

function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

/** Horizontal bars: each metric's ratio to HAProxy per target, a line at 1.0. */
export function svg(m: Medians, targets: readonly string[], title: string): string {
  const metrics = METRICS.filter((x) =>
    !x.key.endsWith("_cpu") && targets.some((t) => Number.isFinite(ratio(m, t, x.key)))
  );
  const shown = targets.filter((t) => t !== "haproxy" || m["haproxy"]);
  const barH = 12, gap = 10, left = 270, width = 460, top = 50;
  const groupH = shown.length * barH + gap;
  const height = top + metrics.length * groupH + 40;
  let maxR = 2;
  for (const x of metrics) {
    for (const t of shown) maxR = Math.max(maxR, Math.min(ratio(m, t, x.key) || 0, 6));
  }
  const sx = (r: number) => left + Math.min(r, maxR) / maxR * width;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + width + 120
    }" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="36" fill="#555">ratio to HAProxy (1 thread); for latency and KiB lower is better</text>`,
  ];
  metrics.forEach((x, i) => {
    const y0 = top + i * groupH;
    parts.push(
      `<text x="10" y="${y0 + groupH / 2}">${esc(x.label.trim())}${
        x.better === "lower" ? " (lower better)" : ""
      }</text>`,
    );
    shown.forEach((t, j) => {
      const r = ratio(m, t, x.key);
      if (!Number.isFinite(r)) return;
      const y = y0 + j * barH;
      parts.push(
        `<rect x="${left}" y="${y}" width="${(sx(r) - left).toFixed(1)}" height="${
          barH - 2
        }" fill="${COLORS[t] ?? "#888"}"/>`,
      );
      parts.push(
        `<text x="${sx(r) + 4}" y="${y + barH - 3}">${t} ${r.toFixed(2)}${
          r > maxR ? "+" : ""
        }</text>`,
      );
    });
  });
  parts.push(
    `<line x1="${sx(1)}" y1="${top - 6}" x2="${sx(1)}" y2="${
      height - 30
    }" stroke="#1f77b4" stroke-dasharray="4 3"/>`,
  );
  parts.push(`<text x="${sx(1) - 8}" y="${height - 16}">1.0</text>`);
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
