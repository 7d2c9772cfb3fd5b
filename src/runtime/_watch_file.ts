// watchFile for both runtimes through node:fs: watches the parent directory (an atomic
// rename-save silently kills a watch on the file itself) and filters on the basename.
// Kubernetes ConfigMap volumes update by swapping a `..data` symlink, so `..`-prefixed
// entries count as changes too.
import { type FSWatcher, statSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { toSluiceError } from "./_errors.ts";
import type { Watcher } from "./types.ts";

export function watchFileInDir(
  path: string,
  onChange: () => void,
  o: { debounceMs?: number } = {},
): Watcher {
  const debounceMs = o.debounceMs ?? 250;
  const full = resolve(path);
  const dir = dirname(full);
  const name = basename(full);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  function fire(): void {
    timer = undefined;
    if (!closed) onChange();
  }

  let w: FSWatcher;
  try {
    // Deno's node:fs reports a missing directory asynchronously: check first, on both.
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    w = watch(dir, { persistent: false }, (_event, filename) => {
      if (closed || filename === null || filename === undefined) return;
      // Deno may report full paths; Bun and Node report names relative to the directory.
      const entry = basename(String(filename));
      if (entry !== name && !entry.startsWith("..")) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(fire, debounceMs);
    });
  } catch (e) {
    throw toSluiceError(e, `watch ${full} (its directory must exist)`);
  }
  w.on("error", () => {/* the directory vanished: nothing more will come */});

  return {
    close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      w.close();
    },
  };
}
