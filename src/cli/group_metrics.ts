// The process-local metric families of the worker group, summed into the primary's /metrics:
// the two duration histograms and the local-resource errors are kept by each process's own
// metrics object (they are observed per connection), so each worker renders its exposition and
// the primary adds every sample of those families to its own, series by series (same name and
// labels), appending the series only a worker has. Everything else (listener and backend
// families) already comes from the merged group view.

/** Families summed over the processes (a histogram's _bucket, _sum and _count included). */
const SUMMED_FAMILIES: readonly string[] = [
  "sluice_connect_duration_seconds",
  "sluice_connection_duration_seconds",
  "sluice_local_resource_errors_total",
];

function familyOf(sampleName: string): string | undefined {
  for (const f of SUMMED_FAMILIES) {
    if (
      sampleName === f || sampleName === `${f}_bucket` || sampleName === `${f}_sum` ||
      sampleName === `${f}_count`
    ) return f;
  }
  return undefined;
}

/** "name{labels} value" -> [series, family, value], for samples of the summed families. */
function parseSample(line: string): [string, string, number] | undefined {
  if (line === "" || line.startsWith("#")) return undefined;
  const cut = line.lastIndexOf(" ");
  if (cut < 0) return undefined;
  const series = line.slice(0, cut);
  const brace = series.indexOf("{");
  const family = familyOf(brace < 0 ? series : series.slice(0, brace));
  if (!family) return undefined;
  const v = Number(line.slice(cut + 1));
  return Number.isFinite(v) ? [series, family, v] : undefined;
}

/** The primary's exposition with the workers' samples of SUMMED_FAMILIES added in. */
export function sumProcessFamilies(primary: string, workers: readonly string[]): string {
  // Worker series in order of appearance (a histogram's buckets stay together and in order).
  const extra = new Map<string, { family: string; value: number }>();
  for (const text of workers) {
    for (const line of text.split("\n")) {
      const s = parseSample(line);
      if (!s) continue;
      const seen = extra.get(s[0]);
      if (seen) seen.value += s[2];
      else extra.set(s[0], { family: s[1], value: s[2] });
    }
  }
  if (extra.size === 0) return primary;
  const lines = primary.split("\n");
  const out: string[] = [];
  const lastOf = new Map<string, number>();
  for (const line of lines) {
    const s = parseSample(line);
    if (s) {
      const add = extra.get(s[0]);
      if (add) extra.delete(s[0]);
      out.push(`${s[0]} ${s[2] + (add?.value ?? 0)}`);
      lastOf.set(s[1], out.length);
      continue;
    }
    // A family's HELP/TYPE lines count as its place too (a family with no sample yet).
    const m = /^# TYPE (\S+) /.exec(line);
    out.push(line);
    if (m && SUMMED_FAMILIES.includes(m[1]!)) lastOf.set(m[1]!, out.length);
  }
  // Series only workers have go at the end of their family, in the workers' order.
  const byFamily = new Map<string, string[]>();
  for (const [series, { family, value }] of extra) {
    const l = byFamily.get(family) ?? [];
    l.push(`${series} ${value}`);
    byFamily.set(family, l);
  }
  const inserts = [...byFamily].map(([f, l]) => [lastOf.get(f), l] as const)
    .filter((x): x is readonly [number, string[]] => x[0] !== undefined)
    .sort((a, b) => b[0] - a[0]);
  for (const [at, l] of inserts) out.splice(at, 0, ...l);
  return out.join("\n");
}
