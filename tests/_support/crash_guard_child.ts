// Run as a child by tests/cli/crash_guard_test.ts: a rejection and an exception nobody handles,
// then proof of life. Test runners intercept both in their own process, hence the child.
import process from "node:process";
import { installCrashGuard } from "../../src/cli/crash_guard.ts";
import { configureLogging, createLogger } from "../../src/log.ts";

configureLogging({ level: "info", format: "json", write: (l) => process.stdout.write(l + "\n") });
installCrashGuard(createLogger("child"));
void Promise.reject(new Error("a rejected bug"));
setTimeout(() => {
  throw new Error("a thrown bug");
}, 20);
setTimeout(() => {
  process.stdout.write("still serving\n");
  process.exit(0);
}, 200);
