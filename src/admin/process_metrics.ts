// The process figures every Prometheus target exports (memory, CPU, open files, start time),
// read through node: APIs that behave the same on Deno and Bun, and an event-loop lag sampler.
import process from "node:process";
import { readdirSync } from "node:fs";
import { clearInterval, setInterval } from "node:timers";
import type { ExpositionWriter } from "./exposition.ts";

const START_TIME_SECONDS = Math.floor(Date.now() / 1000 - process.uptime());

function openFds(): number | undefined {
  try {
    // Linux only; elsewhere the figure is left out rather than guessed.
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

/**
 * Measures how late a periodic timer fires: the time the event loop was busy elsewhere.
 * Reports the worst lag since the previous read, so a short stall between scrapes shows.
 */
export class LagSampler {
  readonly #periodMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #expected = 0;
  #max = 0;
  #last = 0;

  constructor(periodMs = 500) {
    this.#periodMs = periodMs;
  }

  start(): void {
    if (this.#timer) return;
    this.#expected = performance.now() + this.#periodMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.#expected);
      this.#expected = now + this.#periodMs;
      if (lag > this.#max) this.#max = lag;
      this.#last = lag;
    }, this.#periodMs);
    // Metrics must never keep the process alive.
    this.#timer.unref();
  }

  /** The worst lag in seconds since the previous call (the last sample if none was worse). */
  take(): number {
    const v = Math.max(this.#max, this.#last);
    this.#max = 0;
    return v / 1000;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export function writeProcessMetrics(w: ExpositionWriter, lagSeconds: number): void {
  const cpu = process.cpuUsage();
  w.family(
    "process_cpu_seconds_total",
    "counter",
    "Total user and system CPU time spent in seconds.",
  )
    .sample("process_cpu_seconds_total", undefined, (cpu.user + cpu.system) / 1e6);
  w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
    .sample("process_resident_memory_bytes", undefined, process.memoryUsage().rss);
  const fds = openFds();
  if (fds !== undefined) {
    w.family("process_open_fds", "gauge", "Number of open file descriptors.")
      .sample("process_open_fds", undefined, fds);
  }
  w.family(
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since unix epoch in seconds.",
  )
    .sample("process_start_time_seconds", undefined, START_TIME_SECONDS);
  w.family(
    "sluice_event_loop_lag_seconds",
    "gauge",
    "Worst event-loop lag seen since the previous scrape, in seconds.",
  ).sample("sluice_event_loop_lag_seconds", undefined, lagSeconds);
}
