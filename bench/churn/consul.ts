// The Consul emulator for the churn benchmark, in a process of its own: registers what the JSON
// file lists (the emulator's /_emu/register bodies), then prints "ready PORT".
//
//   deno run -A bench/churn/consul.ts registrations.json
import { readFileSync } from "node:fs";
import process from "node:process";
import { type RegisterService, startConsulEmulator } from "../../tests/_support/consul_emulator.ts";

const regs = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as RegisterService[];
const emu = await startConsulEmulator({ port: 0, host: "127.0.0.1" });
for (const r of regs) emu.register(r);
console.log(`ready ${emu.port}`);
const stop = async () => {
  await emu.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
