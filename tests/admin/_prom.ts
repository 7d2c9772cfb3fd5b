// Test helpers for the Prometheus text format: run the real `promtool check metrics`, and read
// sample values back out of an exposition (a small parser that undoes the label escapes).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

export const PROMTOOL = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));

/** Pipes the text to `promtool check metrics`; resolves with its exit code and output. */
export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  if (!PROMTOOL) throw new Error("promtool is not installed");
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    p.stdout.on("data", (d) => (output += String(d)));
    p.stderr.on("data", (d) => (output += String(d)));
    p.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    p.stdin.end(text);
  });
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf("=", i);
    const key = s.slice(i, eq);
    let j = eq + 2; // past ="
    let v = "";
    while (s[j] !== '"') {
      if (s[j] === "\\") {
        const n = s[j + 1];
        v += n === "n" ? "\n" : n;
        j += 2;
      } else v += s[j++];
    }
    out[key] = v;
    i = j + 1;
    if (s[i] === ",") i++;
  }
  return out;
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels = brace >= 0 && brace < space
      ? parseLabels(line.slice(brace + 1, line.lastIndexOf("}")))
      : {};
    const raw = line.slice(space + 1);
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    out.push({ name, labels, value });
  }
  return out;
}

/** The one sample with this name and exactly these labels; throws when absent. */
export function valueOf(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = samples.find((x) =>
    x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want
  );
  if (!s) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return s.value;
}
