// A bounded, non-blocking read of a routing file (issue 12, bug 13): a FIFO renamed over the
// routing path froze the whole proxy on SIGHUP, because a plain read waits for a writer. The
// file is opened non-blocking and checked through its descriptor (no window between a stat and
// the open), only a regular file is read, and never more than `max` bytes.
import { DEFAULTS } from "../defaults.ts";
import { Buffer } from "node:buffer";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { SluiceError } from "../errors.ts";

/** The default cap of a routing file (`routing.file.max_bytes`). */
export const DEFAULT_MAX_FILE_BYTES: number = DEFAULTS.routing.file.maxBytes;

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a file";
}

/**
 * The whole file. Throws the open error as is (ENOENT for a missing file), SluiceError
 * ("PROVIDER") for anything but a regular file, and SluiceError("PROVIDER_TOO_LARGE") past `max`.
 */
export function readRegularFileSync(path: string, max: number): Buffer {
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new SluiceError("PROVIDER", `Cannot read ${path}: not a regular file (${kindOf(st)})`);
    }
    const tooLarge = () =>
      new SluiceError(
        "PROVIDER_TOO_LARGE",
        `Cannot read ${path}: larger than max_bytes (${max} bytes); refused`,
      );
    if (st.size > max) throw tooLarge();
    // The size may change while reading: read until the end, at most max + 1 bytes.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const room = Math.min(Math.max(st.size - total, 0) + 64 * 1024, max + 1 - total);
      const buf = Buffer.allocUnsafe(room);
      const n = readSync(fd, buf, 0, room, null);
      if (n === 0) break;
      chunks.push(n === room ? buf : buf.subarray(0, n));
      total += n;
      if (total > max) throw tooLarge();
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
