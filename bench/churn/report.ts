// The churn benchmark's table (absolute figures, then ratios to HAProxy and nginx), targets and
// chart.
import type { ChurnResult } from "./run.ts";

interface Row {
  key: string;
  label: string;
  /** For the chart: lower is better for every row shown. */
  chart?: boolean;
}

const ROWS: Row[] = [
  { key: "start_ms", label: "all listeners accepting after start, ms" },
  { key: "add_p50_ms", label: "change -> new port accepting p50, ms", chart: true },
  { key: "add_p99_ms", label: "change -> new port accepting p99, ms", chart: true },
  { key: "add_max_ms", label: "change -> new port accepting max, ms" },
  { key: "remove_p50_ms", label: "change -> removed port refusing p50, ms" },
  { key: "remove_p99_ms", label: "change -> removed port refusing p99, ms" },
  { key: "conn_ok", label: "new connections echoed" },
  { key: "conn_refused", label: "new connections refused" },
  { key: "conn_reset", label: "new connections reset / closed early" },
  { key: "conn_timeout", label: "new connections timed out (5 s)" },
  { key: "long_broken", label: "long-lived connections broken" },
  { key: "bytes_lost", label: "bytes lost (long-lived)" },
  { key: "bytes_corrupt_msgs", label: "messages corrupted (long-lived)" },
  { key: "cpu_s", label: "CPU s of the process tree over the run", chart: true },
  { key: "baseline_cpu_pct", label: "CPU % with the traffic alone, before" },
  { key: "baseline_after_cpu_pct", label: "CPU % with the traffic alone, after" },
  { key: "change_cpu_s", label: "CPU s over the run minus the lower baseline", chart: true },
  { key: "cpu_ms_per_change", label: "CPU ms per change (minus baseline)" },
  { key: "peak_rss_mib", label: "peak RSS of the tree, MiB (sum)", chart: true },
  { key: "peak_pss_mib", label: "peak PSS of the tree, MiB (sum)" },
  { key: "peak_procs", label: "most processes in the tree at once" },
  { key: "reloads", label: "reloads run (coalesced when busy)" },
];

function fmt(v: number | undefined): string {
  if (v === undefined) return "";
  if (!Number.isFinite(v)) return v > 0 ? "timeout" : "-";
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : String(+v.toFixed(2));
}

export function churnTable(r: Record<string, ChurnResult>): string {
  const names = Object.keys(r);
  const w0 = Math.max(...ROWS.map((x) => x.label.length));
  const cols = names.map((n) => Math.max(n.length, 9));
  const line = (label: string, cells: string[]) =>
    label.padEnd(w0) + "  " + cells.map((c, i) => c.padStart(cols[i]!)).join("  ");
  const out = [line("", names), line("-".repeat(w0), cols.map((w) => "-".repeat(w)))];
  for (const row of ROWS) out.push(line(row.label, names.map((n) => fmt(r[n]?.[row.key]))));
  // Ratios: each sluice variant against HAProxy and nginx (lower is better for all three).
  const peers = ["haproxy", "nginx"].filter((p) => r[p]);
  const sluices = names.filter((n) => !peers.includes(n) && n !== "haproxy" && n !== "nginx");
  if (peers.length && sluices.length) {
    out.push("", "ratios (sluice / peer; lower is better; target 0.1 or less for CPU and memory):");
    for (const key of ["add_p99_ms", "cpu_s", "change_cpu_s", "peak_rss_mib"]) {
      for (const p of peers) {
        const cells = sluices.map((s) => {
          const a = r[s]?.[key], b = r[p]?.[key];
          return a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(3) : "-";
        });
        out.push(`  ${key} / ${p}: ` + sluices.map((s, i) => `${s} ${cells[i]}`).join(", "));
      }
    }
  }
  return out.join("\n");
}

export interface ChurnGoal {
  runtime: string;
  goal: string;
  value: string;
  met: boolean;
}

/** The targets for sluice (each variant measured). */
export function churnGoals(r: Record<string, ChurnResult>): ChurnGoal[] {
  const out: ChurnGoal[] = [];
  for (const [name, x] of Object.entries(r)) {
    if (name === "haproxy" || name === "nginx") continue;
    const failures = x.conn_refused! + x.conn_reset! + x.conn_timeout! + x.conn_other! +
      x.long_broken! + x.bytes_lost! + x.bytes_corrupt_msgs!;
    out.push({
      runtime: name,
      goal: "0 refused, reset, broken, lost",
      value: `${x.conn_refused}/${x.conn_reset}/${x.long_broken}/${x.bytes_lost}`,
      met: failures === 0,
    });
    out.push({
      runtime: name,
      goal: "change -> port accepting p99 < 100 ms",
      value: `${x.add_p99_ms} ms`,
      met: x.add_p99_ms! < 100 && x.add_timeouts === 0,
    });
    for (const p of ["haproxy", "nginx"]) {
      const y = r[p];
      if (!y) continue;
      const cpu = x.change_cpu_s! / y.change_cpu_s!, mem = x.peak_rss_mib! / y.peak_rss_mib!;
      out.push({
        runtime: name,
        goal: `CPU per change <= 0.1 of ${p}`,
        value: cpu.toFixed(3),
        met: cpu <= 0.1,
      });
      out.push({
        runtime: name,
        goal: `peak memory <= 0.1 of ${p}`,
        value: mem.toFixed(3),
        met: mem <= 0.1,
      });
    }
  }
  return out;
}

const COLORS: Record<string, string> = {
  "deno-file": "#2ca02c",
  "bun-file": "#ff7f0e",
  "deno-consul": "#98df8a",
  "bun-consul": "#ffbb78",
  haproxy: "#1f77b4",
  nginx: "#9467bd",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** Horizontal bars, one group per metric, each scaled to the metric's largest value. */
export function churnSvg(r: Record<string, ChurnResult>, title: string): string {
  const names = Object.keys(r);
  const rows = ROWS.filter((x) => x.chart);
  const barH = 13, gap = 12, left = 290, width = 420, top = 50;
  const groupH = names.length * barH + gap;
  const height = top + rows.length * groupH + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + width + 170
    }" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="36" fill="#555">absolute figures, each metric scaled to its largest; lower is better</text>`,
  ];
  rows.forEach((row, i) => {
    const y0 = top + i * groupH;
    parts.push(`<text x="10" y="${y0 + groupH / 2}">${esc(row.label)}</text>`);
    const vals = names.map((n) => r[n]?.[row.key] ?? NaN);
    const max = Math.max(1e-9, ...vals.filter(Number.isFinite));
    names.forEach((n, j) => {
      const v = vals[j]!;
      const y = y0 + j * barH;
      const w = Number.isFinite(v) ? (v / max) * width : width;
      parts.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${
          COLORS[n] ?? "#888"
        }"/>`,
        `<text x="${left + w + 4}" y="${y + barH - 3}">${esc(n)} ${fmt(v)}</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
