// watchFile for both runtimes through node:fs: watches the parent directory (an atomic
// rename-save silently kills a watch on the file itself) and filters on the basename.
// Kubernetes ConfigMap volumes update by swapping a `..data` symlink, so `..`-prefixed
// entries count as changes too.
//
// Two kinds of change, told apart by the file's identity (device and inode, through symlinks):
// - The path now names a different file than before (an atomic rename-save, a `..data` swap):
//   the new file is complete by construction, so the callback runs at once.
// - The same file changed (an in-place write, which editors and `>` redirections may do in
//   several chunks), or the file appeared or vanished: the callback waits until no event came
//   for debounceMs, so a half-written file is not read. A file created in place is written
//   after it appears, so a creation is debounced too.
import { type FSWatcher, statSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { SluiceError } from "../errors.ts";
import { toSluiceError } from "./_errors.ts";
import type { Watcher } from "./types.ts";

/** The timer functions the debounce uses; tests inject their own to step it by hand. */
export interface WatchTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: WatchTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** "dev:ino" of the file the path names now (symlinks followed), or undefined when missing. */
function identity(full: string): string | undefined {
  try {
    const s = statSync(full);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

export function watchFileInDir(
  path: string,
  onChange: () => void,
  o: { debounceMs?: number; timers?: WatchTimers } = {},
): Watcher {
  const debounceMs = o.debounceMs ?? 250;
  const timers = o.timers ?? realTimers;
  const full = resolve(path);
  const dir = dirname(full);
  const name = basename(full);
  let timer: unknown;
  let closed = false;
  let seen = identity(full);

  function fire(): void {
    timer = undefined;
    if (!closed) onChange();
  }

  function cancel(): void {
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
  }

  let w: FSWatcher;
  try {
    // Deno's node:fs reports a missing directory asynchronously: check first, on both.
    if (!statSync(dir).isDirectory()) {
      throw new SluiceError("EUNKNOWN", `Cannot watch ${full}: ${dir} is not a directory`);
    }
    w = watch(dir, { persistent: false }, (_event, filename) => {
      if (closed || filename === null || filename === undefined) return;
      // Deno may report full paths; Bun and Node report names relative to the directory.
      const entry = basename(String(filename));
      if (entry !== name && !entry.startsWith("..")) return;
      const now = identity(full);
      const replaced = now !== undefined && seen !== undefined && now !== seen;
      seen = now;
      cancel();
      // A replaced file is whole: read it now (this also covers any in-place write pending).
      if (replaced) fire();
      else timer = timers.set(fire, debounceMs);
    });
  } catch (e) {
    throw toSluiceError(e, `watch ${full} (its directory must exist)`);
  }
  w.on("error", () => {/* the directory vanished: nothing more will come */});

  return {
    close() {
      if (closed) return;
      closed = true;
      cancel();
      w.close();
    },
  };
}
