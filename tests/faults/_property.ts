// Shared by the parser property tests: the run count and the one allowed kind of throw.
import assert from "node:assert/strict";
import process from "node:process";
import { SluiceError } from "../../src/errors.ts";

export const RUNS = Number(process.env.FAULTS_PROPERTY_RUNS ?? 400);

/** Calls f; a SluiceError (of `code` when given) is an allowed answer, any other throw is not. */
export function valueOrSluiceError<T>(f: () => T, code?: string): T | SluiceError {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof SluiceError)) {
      throw new Error(`threw ${(err as Error)?.name ?? typeof err}, not a SluiceError: ${err}`, {
        cause: err,
      });
    }
    if (code !== undefined) assert.equal(err.code, code, err.message);
    return err;
  }
}
