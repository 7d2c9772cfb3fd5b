// A failed dial on Bun as a SluiceError. Bun (1.x, native Bun.connect and node:net alike)
// reports a socket() that failed for want of descriptors as ECONNREFUSED ("Failed to connect",
// errno -111): a backend that is up would be blamed and ejected. So a refusal is checked
// against the process's own headroom: if no descriptor can be opened right now, the dial
// failed here (ERESOURCE, the errno in the text), not at the peer. Only refusals pay for the
// check (an open and a close of /dev/null); a real refusal keeps its code. Upstream: the
// misreport is oven-sh/bun#36140; once Bun reports EMFILE itself, _errors.ts maps it as is.
import { closeSync, openSync } from "node:fs";
import { SluiceError } from "../../errors.ts";
import { runtimeErrorCode, toSluiceError } from "../_errors.ts";

/** "EMFILE" or "ENFILE" when the process cannot open a descriptor now; undefined when it can. */
function descriptorShortage(): string | undefined {
  let fd: number;
  try {
    fd = openSync("/dev/null", "r");
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return code === "EMFILE" || code === "ENFILE" ? code : undefined;
  }
  try {
    closeSync(fd);
  } catch { /* closed all the same */ }
  return undefined;
}

/** toSluiceError() for a dial, with a refusal that was really a descriptor shortage fixed. */
export function dialError(e: unknown, action: string): SluiceError {
  if (e instanceof SluiceError) return e;
  if (runtimeErrorCode(e) === "ECONNREFUSED") {
    const errno = descriptorShortage();
    if (errno) {
      return new SluiceError(
        "ERESOURCE",
        `Cannot ${action}: ERESOURCE (${errno}: no descriptor left; Bun reported ${
          e instanceof Error ? e.message : String(e)
        })`,
        { cause: e },
      );
    }
  }
  return toSluiceError(e, action);
}
