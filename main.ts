// sluice's entry point: pick the runtime adapter, run the CLI, exit with its code.
import process from "node:process";
import { getRuntime } from "./src/runtime/detect.ts";
import { main } from "./src/cli/main.ts";

const code = await main(process.argv.slice(2), await getRuntime());
process.exit(code);
