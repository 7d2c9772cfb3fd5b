// runtime.state_file: the stick table and the health of backends, saved at intervals (and at
// shutdown) and restored at start, so a restart keeps clients where they were stuck and sends
// nothing to a backend that was down until it passes `rise` checks again (tcpffee's
// TCPFFEE_HEALTHCHECK_SAVE_PATH). Writes are atomic: a temporary file beside it, then a rename,
// so a crash mid-write leaves the previous state. A missing or unreadable file is a fresh start.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createStickTable, type StickEntry, type StickTable } from "../balancer/stick_table.ts";
import type { SavedHealth } from "../health/monitor.ts";
import type { HealthState } from "../health/types.ts";
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";

export interface HealthRecord {
  readonly listener: string;
  readonly backend: string;
  readonly state: HealthState;
  readonly disabled: boolean;
}

export interface SavedState {
  readonly version: 1;
  /** ISO 8601 */
  readonly saved_at: string;
  readonly stick: readonly StickEntry[];
  readonly health: readonly HealthRecord[];
}

export interface LoadedState {
  readonly stick: StickEntry[];
  /** By "<listener>\u0000<backend key>", as the engine's restoredHealth takes it */
  readonly health: Map<string, SavedHealth>;
}

const EMPTY = (): LoadedState => ({ stick: [], health: new Map() });

function isStickEntry(e: unknown): e is StickEntry {
  const x = e as Record<string, unknown>;
  return typeof x === "object" && x !== null && typeof x.key === "string" &&
    typeof x.backend === "string" && Number.isFinite(x.usedMs) &&
    Number.isFinite(x.expirationMs);
}

function isHealthRecord(e: unknown): e is HealthRecord {
  const x = e as Record<string, unknown>;
  return typeof x === "object" && x !== null && typeof x.listener === "string" &&
    typeof x.backend === "string" && (x.state === "up" || x.state === "down") &&
    typeof x.disabled === "boolean";
}

/** The saved state, or an empty one (logged) when the file is missing or unreadable. */
export async function loadState(path: string, log: Logger): Promise<LoadedState> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") {
      log.warn("state file not read: starting fresh", { path, error: errorMessage(err) });
    }
    return EMPTY();
  }
  try {
    const raw = JSON.parse(text) as Partial<SavedState>;
    if (raw.version !== 1) throw new Error(`unknown version ${JSON.stringify(raw.version)}`);
    const stick = (raw.stick ?? []).filter(isStickEntry);
    const health = new Map<string, SavedHealth>();
    for (const h of (raw.health ?? []).filter(isHealthRecord)) {
      health.set(`${h.listener}\u0000${h.backend}`, { state: h.state, disabled: h.disabled });
    }
    log.info("state restored", { path, stick_entries: stick.length, backends: health.size });
    return { stick, health };
  } catch (err) {
    log.warn("state file unreadable: starting fresh", { path, error: errorMessage(err) });
    return EMPTY();
  }
}

/** Writes `state` to `path` atomically (temporary file, then rename). */
export async function saveState(path: string, state: SavedState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(state) + "\n", { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

export interface StateSaver {
  /** Saves once more and stops. */
  stop(): Promise<void>;
  /** Saves now (tests, and the interval). */
  saveNow(): Promise<void>;
}

/** Saves `snapshot()` every `intervalMs` (never two saves at once) and once more at stop(). */
export function startStateSaver(o: {
  path: string;
  intervalMs: number;
  snapshot: () => Omit<SavedState, "version" | "saved_at">;
  log: Logger;
}): StateSaver {
  let running: Promise<void> | undefined;
  let failing = false;
  const saveNow = (): Promise<void> => {
    if (running) return running;
    const state: SavedState = { version: 1, saved_at: new Date().toISOString(), ...o.snapshot() };
    running = saveState(o.path, state).then(
      () => {
        if (failing) o.log.info("state file saved again", { path: o.path });
        failing = false;
      },
      (err) => {
        // Logged when saving starts failing, not at every interval.
        if (!failing) {
          o.log.warn("state file not saved", { path: o.path, error: errorMessage(err) });
        }
        failing = true;
      },
    ).finally(() => running = undefined);
    return running;
  };
  const timer = setInterval(() => void saveNow(), o.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await saveNow();
    },
    saveNow,
  };
}

/**
 * The app's use of runtime.state_file, read once at start (a reload that changes the path
 * applies at the next start): the engine options with what was restored, and the saver.
 */
export async function openState(
  runtime: { readonly stateFile: string; readonly stateIntervalMs: number },
  log: Logger,
): Promise<{
  engineOptions: { stickTable: StickTable; restoredHealth?: ReadonlyMap<string, SavedHealth> };
  /** Starts saving (undefined without a state file); `health` is the engine's healthStates. */
  startSaver(health: () => readonly HealthRecord[]): StateSaver | undefined;
}> {
  const path = runtime.stateFile;
  const saved = path ? await loadState(path, log) : undefined;
  const stickTable = createStickTable();
  if (saved) stickTable.restore(saved.stick);
  return {
    engineOptions: { stickTable, ...(saved ? { restoredHealth: saved.health } : {}) },
    startSaver: (health) =>
      path
        ? startStateSaver({
          path,
          intervalMs: runtime.stateIntervalMs,
          snapshot: () => ({ stick: stickTable.entries(), health: health() }),
          log,
        })
        : undefined,
  };
}
