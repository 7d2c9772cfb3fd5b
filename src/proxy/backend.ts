// One backend of a listener's pool at runtime: its plan, live counters, health and drain state.
// It outlives plan updates that keep its key, so counters and admin drains survive reloads.
import type { ByteCounters } from "../runtime/types.ts";
import type { BackendPlan } from "../routing/types.ts";
import { formatProxyUrl } from "../routing/proxy_url.ts";
import type { Candidate } from "../balancer/types.ts";
import { createEjector, type Ejector } from "../health/passive.ts";
import type { Dialer } from "../net/dial.ts";
import type { HealthState } from "../health/types.ts";
import type { BackendCounters, BackendView } from "./types.ts";

export class LiveBackend implements Candidate {
  plan: BackendPlan;
  readonly key: string;
  readonly via: string | undefined;
  readonly counters: BackendCounters = {
    active: 0,
    total: 0,
    connectFailures: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  /** Byte counters of the connections open right now (folded into `counters` when they end). */
  readonly live = new Set<ByteCounters>();
  /** Set by the admin API; survives routing updates. */
  drainOverride = false;
  /** From active checks; "unknown" until the first result (and counts as healthy). */
  health: HealthState = "unknown";
  /** Passive ejection: consecutive connect failures take it out for a growing back-off. */
  readonly ejector: Ejector = createEjector();
  /** How connections reach it; set by the engine on first use. */
  dialer: Dialer | undefined;
  /** Removed from routing: takes no new connections, its open ones go on. */
  removed = false;
  /** A check with fall_action = "disable" is failing: no connection at all. */
  healthDisabled = false;
  /** Its group identity in the pool, for the hash strategy (set by the listener). */
  hashId: string | undefined;

  constructor(plan: BackendPlan) {
    this.plan = plan;
    this.key = plan.key;
    this.via = plan.proxy ? formatProxyUrl(plan.proxy) : undefined;
  }

  /** A new plan for the same key; a changed proxy URL (a new password) gets a new dialer. */
  replan(plan: BackendPlan): void {
    if (
      plan.proxy !== this.plan.proxy &&
      JSON.stringify(plan.proxy) !== JSON.stringify(this.plan.proxy)
    ) {
      this.dialer = undefined;
    }
    this.plan = plan;
  }

  get weight(): number {
    return this.plan.weight;
  }
  get tier(): number {
    return this.plan.tier;
  }
  get active(): number {
    return this.counters.active;
  }
  get healthy(): boolean {
    return this.health !== "down" && !this.ejector.ejected();
  }
  get drained(): boolean {
    return this.plan.drain || this.drainOverride || this.removed;
  }
  get disabled(): boolean {
    return this.plan.disabled === true || this.healthDisabled;
  }

  /** Bytes including the connections still open. */
  bytes(): { up: number; down: number } {
    let up = this.counters.bytesUp;
    let down = this.counters.bytesDown;
    for (const c of this.live) {
      up += c.up;
      down += c.down;
    }
    return { up, down };
  }

  view(): BackendView {
    const b = this.bytes();
    return {
      key: this.key,
      address: this.plan.address,
      ...(this.via ? { via: this.via } : {}),
      service: this.plan.service,
      weight: this.plan.weight,
      tier: this.plan.tier,
      health: this.health,
      drain: this.drained,
      ...(this.disabled ? { disabled: true } : {}),
      drainOverride: this.drainOverride,
      ejected: this.ejector.ejected(),
      counters: { ...this.counters, bytesUp: b.up, bytesDown: b.down },
    };
  }
}
