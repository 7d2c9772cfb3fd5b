// The file provider (`routing.file.*`): reads a routing document, follows its edits through the
// runtime's directory watch, and keeps the last good services when an edit does not parse.
import type { Buffer } from "node:buffer";
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { errorCode, errorMessage, SluiceError } from "../errors.ts";
import type { FileProviderConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { createDocumentParser, formatFromPath } from "../routing/document.ts";
import type { ServiceSpec } from "../routing/types.ts";
import type { Runtime, Watcher } from "../runtime/types.ts";
import {
  contentHash,
  everyServiceRejected,
  logRouteProblems,
  noValidServiceMessage,
} from "./document_source.ts";
import { DEFAULT_MAX_FILE_BYTES, readRegularFileSync } from "./file_read.ts";
import { createStatusTracker, type ProviderFailure } from "./status.ts";
import type { Provider, ProviderStatus } from "./types.ts";

export interface FileProviderOptions {
  rt: Runtime;
  config: FileProviderConfig;
  log: Logger;
  /** @default "file" */
  name?: string;
  /**
   * Quiet time after the last in-place change event before the file is re-read (an editor may
   * write in several chunks). An atomic rename-save is read at once, without it. @default 100
   */
  debounceMs?: number;
}

function readFailure(path: string, err: unknown): ProviderFailure {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOENT") {
    return { kind: "missing", message: `${path}: no such file; waiting for it to be created` };
  }
  if (errorCode(err) === "PROVIDER_TOO_LARGE") {
    return { kind: "too_large", message: errorMessage(err) };
  }
  if (errorCode(err) === "PROVIDER") return { kind: "unreadable", message: errorMessage(err) };
  return { kind: "unreadable", message: `Cannot read ${path}: ${errorMessage(err)}` };
}

export function createFileProvider(o: FileProviderOptions): Provider {
  const name = o.name ?? "file";
  const path = o.config.path;
  const log = o.log;
  const tracker = createStatusTracker({ name, kind: "file", log });
  let onSnapshot: ((s: readonly ServiceSpec[]) => void) | undefined;
  let watcher: Watcher | undefined;
  let stopped = false;
  // The last document delivered: an identical read is recognised by comparing bytes, which is
  // cheaper than hashing them; the hash (the status `index`) is taken after the routes apply.
  let lastGood: Buffer | undefined;
  // Successive versions of the file: an edit re-parses and re-validates only what it touched.
  const parser = createDocumentParser(path);

  /** Reads and applies the file. Synchronous, so two reads never overlap. */
  function readOnce(): void {
    let bytes: Buffer;
    try {
      // Synchronous on purpose: a routing file is read whole and parsed on this thread anyway,
      // and the async read's thread-pool round trip cost Deno ~1 ms of a 5,000-service change.
      // Never blocking: a FIFO or device is refused, and the read is bounded (bug 13).
      bytes = readRegularFileSync(path, o.config.maxBytes ?? DEFAULT_MAX_FILE_BYTES);
    } catch (err) {
      if (!stopped) tracker.failed(readFailure(path, err));
      return;
    }
    if (stopped) return;
    // An editor touching the file, or the watch firing twice for one save: nothing to do.
    if (lastGood?.equals(bytes)) return tracker.unchanged();
    const format = formatFromPath(path);
    if (format === undefined) {
      tracker.failed({
        kind: "garbage",
        message: `${path}: cannot tell the format; expected a .toml, .yaml, .yml or .json file`,
      });
      return;
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      tracker.failed({ kind: "garbage", message: `${path}: not valid UTF-8 text` });
      return;
    }
    let parsed;
    try {
      parsed = parser.parse(text, format);
    } catch (err) {
      // The message carries path:line:column. Keyed by it: a different mistake is news.
      const message = errorMessage(err);
      tracker.failed({ kind: "garbage", message, key: `garbage:${message}` });
      return;
    }
    if (everyServiceRejected(parsed) && tracker.status().services > 0) {
      const message = noValidServiceMessage(path, parsed.problems);
      if (tracker.failed({ kind: "garbage", message, key: `garbage:${message}` })) {
        logRouteProblems(log, parsed.problems);
      }
      return;
    }
    logRouteProblems(log, parsed.problems, parsed.notices);
    lastGood = bytes;
    log.info("routing loaded", { provider: name, path, services: parsed.services.length });
    onSnapshot?.(parsed.services);
    tracker.delivered({ services: parsed.services.length, index: contentHash(bytes) });
  }

  function watch(first: boolean): void {
    if (!o.config.watch || watcher || stopped) return;
    try {
      // Deno's node:fs watch does not throw for a missing directory (it just never fires), so
      // look first. The watch is on the directory: a rename-save or a later file is seen too.
      const d = dirname(resolve(path));
      if (!statSync(d).isDirectory()) {
        throw new SluiceError("PROVIDER", `Cannot watch ${path}: ${d} is not a directory`);
      }
      // A rename-save is read at once; in-place writes wait for debounceMs of quiet.
      watcher = o.rt.watchFile(path, () => readOnce(), { debounceMs: o.debounceMs ?? 100 });
      if (!first) log.info("watching the routing file", { provider: name, path });
    } catch (err) {
      if (!first) return;
      log.error("cannot watch the routing file; edits need a reload (SIGHUP)", {
        provider: name,
        path,
        error: errorMessage(err),
      });
    }
  }

  return {
    name,
    kind: "file",
    start(fn) {
      if (onSnapshot || stopped) return;
      onSnapshot = fn;
      watch(true);
      // Delivered after start() returns, as every provider's first snapshot is.
      queueMicrotask(readOnce);
    },
    reload() {
      if (stopped) return Promise.resolve();
      // A directory that was missing at start may exist now.
      watch(false);
      readOnce();
      return Promise.resolve();
    },
    stop() {
      stopped = true;
      watcher?.close();
      watcher = undefined;
      tracker.stopped();
      return Promise.resolve();
    },
    status(): ProviderStatus {
      return tracker.status();
    },
  };
}
