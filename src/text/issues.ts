// Turns zod issues into "what was expected" sentences and dotted key paths.
import type { z } from "zod";

/** A value as it would appear in a message (strings quoted, long ones cut). */
export function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? v.slice(0, 57) + "..." : v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a table";
  return String(v);
}

/** "listeners.allowed.a", "backends[2].weight" */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a table",
  array: "a list",
  record: "a table",
};

/** One sentence for a zod issue; `expectedFor` may describe a field better (unions, patterns). */
export function describeIssue(
  issue: z.core.$ZodIssue,
  expectedFor?: (path: readonly PropertyKey[]) => string | undefined,
): string {
  const input = (issue as { input?: unknown }).input;
  const better = expectedFor?.(issue.path);
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) {
        return `missing (expected ${better ?? TYPE_NAMES[issue.expected] ?? issue.expected})`;
      }
      return `expected ${better ?? TYPE_NAMES[issue.expected] ?? issue.expected}, got ${
        show(input)
      }`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
        show(input)
      }`;
    case "too_small":
      if (issue.origin === "array") return `expected at least ${issue.minimum} entries`;
      if (issue.origin === "string") return `expected a non-empty string`;
      return `expected ${
        issue.inclusive === false ? "more than" : "at least"
      } ${issue.minimum}, got ${show(input)}`;
    case "too_big":
      if (issue.origin === "array") return `expected at most ${issue.maximum} entries`;
      return `expected ${
        issue.inclusive === false ? "less than" : "at most"
      } ${issue.maximum}, got ${show(input)}`;
    case "invalid_format":
    case "invalid_union":
      return `expected ${better ?? "a valid value"}, got ${show(input)}`;
    case "unrecognized_keys":
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((k) => JSON.stringify(k)).join(", ")
      }`;
    default:
      return better ? `expected ${better}, got ${show(input)}` : issue.message;
  }
}
