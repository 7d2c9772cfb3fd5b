// One way for a test to say what must happen when it ends, on both runtimes. On Deno 2.9 a
// `t.after()` registered by an it() inside describe() never runs (node:test's nested tests are
// steps there, and a step skips its after hooks; measured), so the emulators, providers and
// temp dirs of those tests were left behind: the sockets until the file ended, the directories
// for good (14 a suite run). whenDone() registers the cleanup with t.after() and with an
// afterEach() of this module, and runs it once, whichever comes first: Deno evaluates this
// module for each test file, so the afterEach covers every file there; Bun evaluates it once,
// and there t.after() works.
import { afterEach } from "node:test";

const pending = new Set<() => Promise<void>>();

afterEach(async () => {
  for (const run of [...pending]) await run();
});

export function whenDone(t: { after(fn: () => unknown): void }, fn: () => unknown): void {
  let ran = false;
  const once = async () => {
    if (ran) return;
    ran = true;
    pending.delete(once);
    await fn();
  };
  pending.add(once);
  t.after(once);
}
