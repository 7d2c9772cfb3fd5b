// What changed between two routing tables, listener by listener (deep structural equality).
import { isDeepStrictEqual } from "node:util";
import type { ListenerPlan, RoutingTable } from "./types.ts";

export interface TableDiff {
  readonly added: ListenerPlan[];
  readonly removed: ListenerPlan[];
  /** Same key, different plan: the `next` plan */
  readonly changed: ListenerPlan[];
  readonly unchanged: ListenerPlan[];
}

export function diffTables(prev: RoutingTable, next: RoutingTable): TableDiff {
  const added: ListenerPlan[] = [];
  const removed: ListenerPlan[] = [];
  const changed: ListenerPlan[] = [];
  const unchanged: ListenerPlan[] = [];
  for (const [key, plan] of next.listeners) {
    const old = prev.listeners.get(key);
    if (old === undefined) added.push(plan);
    else if (isDeepStrictEqual(old, plan)) unchanged.push(plan);
    else changed.push(plan);
  }
  for (const [key, plan] of prev.listeners) {
    if (!next.listeners.has(key)) removed.push(plan);
  }
  return { added, removed, changed, unchanged };
}
