// Health specs the health tests share.
import type { HealthSpec } from "../../src/routing/types.ts";

/** A TCP check every 25 ms (500 ms timeout) that flips on one result either way. */
export const TCP: HealthSpec = {
  type: "tcp",
  intervalMs: 25,
  timeoutMs: 500,
  rise: 1,
  fall: 1,
  path: "/",
  method: "GET",
  status: 200,
  headers: {},
  body: "",
};
