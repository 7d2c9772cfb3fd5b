// Property tests (fast-check) for the provider parsers that read bytes from outside (issue 12,
// fault suite): Consul and Nomad JSON answers (list, health/service, services, service), their
// tags, and HTTP provider bodies. Arbitrary input gives a value or a clear SluiceError, never
// another kind of throw, a hang (every run is bounded) or unbounded memory (a body is read only
// up to its cap, even an endless one).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SluiceError } from "../../src/errors.ts";
import { consulInstances, createConsulListReader } from "../../src/providers/consul.ts";
import {
  nomadInstances,
  nomadServiceName,
  nomadTaggedServices,
} from "../../src/providers/nomad.ts";
import {
  buildRawServices,
  readInstanceTags,
  type TaggedInstance,
} from "../../src/providers/tags.ts";
import { createJsonGet } from "../../src/providers/json_get.ts";
import { createHttpProvider } from "../../src/providers/http.ts";
import { validateServices } from "../../src/routing/service.ts";
import type { HttpFetch, Runtime } from "../../src/runtime/types.ts";
import { captureLogger } from "../providers/_harness.ts";
import { waitFor, within } from "../_support/wait.ts";

const RUNS = 200;

/** Runs f; a throw must be a SluiceError. */
function valueOrSluiceError<T>(f: () => T): T | SluiceError {
  try {
    return f();
  } catch (err) {
    assert.ok(err instanceof SluiceError, `a throw of another kind: ${String(err)}`);
    return err;
  }
}

async function valueOrSluiceErrorAsync<T>(f: () => Promise<T>): Promise<T | SluiceError> {
  try {
    return await f();
  } catch (err) {
    assert.ok(err instanceof SluiceError, `a throw of another kind: ${String(err)}`);
    return err;
  }
}

/** Any JSON scalar or structure, with the odd values Go encoders send (null, big numbers). */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, -1, 0, 65535, 65536, 1e300, -0, "", "[::1]", "127.0.0.1"),
);

/** Tags that exercise the routing tag grammar, valid and not. */
const tag = fc.oneof(
  fc.constantFrom(
    "sluice",
    "sluice.listener=local:5001",
    "sluice.listener=any:99999",
    "sluice.listener=",
    "sluice.weight=3",
    "sluice.weight=-1",
    "sluice.tier=x",
    "sluice.balance=least_conn",
    "sluice.balance=nope",
    "sluice.proxy=socks5://u:p@h:1080",
    "sluice.proxy_protocol=v2",
    "sluice.max_connections=1e9",
    "other",
  ),
  fc.string().map((s) => `sluice.${s}`),
  fc.string(),
);
const tags = fc.oneof(fc.array(tag, { maxLength: 6 }), anyValue);

const consulEntry = fc.record({
  Node: fc.oneof(anyValue, fc.record({ Node: anyValue, Address: anyValue }, { requiredKeys: [] })),
  Service: fc.oneof(
    anyValue,
    fc.record({
      ID: anyValue,
      Service: anyValue,
      Address: anyValue,
      Port: fc.oneof(fc.integer({ min: -10, max: 70_000 }), anyValue),
      Tags: tags,
      Kind: fc.oneof(fc.constant(""), anyValue),
      Weights: fc.oneof(anyValue, fc.record({ Passing: anyValue, Warning: anyValue })),
    }, { requiredKeys: [] }),
  ),
}, { requiredKeys: [] });

/** A `/v1/health/state/any` element: a check, with wrong values too. */
const consulCheck = fc.record({
  Node: anyValue,
  CheckID: anyValue,
  ServiceID: anyValue,
  ServiceName: fc.oneof(fc.constantFrom("a", "b", ""), anyValue),
  Status: fc.oneof(fc.constantFrom("passing", "critical"), anyValue),
  ServiceTags: tags,
  ModifyIndex: fc.oneof(fc.nat(), anyValue),
}, { requiredKeys: [] });

const nomadGroup = fc.record({
  Namespace: anyValue,
  Services: fc.oneof(
    anyValue,
    fc.array(fc.record({ ServiceName: anyValue, Tags: tags }, { requiredKeys: [] }), {
      maxLength: 5,
    }),
  ),
}, { requiredKeys: [] });

const nomadRegistration = fc.record({
  ID: anyValue,
  AllocID: anyValue,
  Address: anyValue,
  Port: fc.oneof(fc.integer({ min: -10, max: 70_000 }), anyValue),
  Tags: tags,
}, { requiredKeys: [] });

/** A list answer: the right shape with wrong values, or anything at all. */
const listOf = <T>(entry: fc.Arbitrary<T>) => fc.oneof(fc.array(entry, { maxLength: 6 }), anyValue);

/** The instances go on through the tag reader and the route validator, as in the loop. */
function routeAll(instances: readonly TaggedInstance[], kind: string): void {
  const notes: string[] = [];
  const raw = buildRawServices(instances, "sluice", notes);
  const { services, problems } = validateServices(raw, kind);
  assert.ok(Array.isArray(services) && Array.isArray(problems));
  for (const n of notes) assert.equal(typeof n, "string");
}

describe("provider parsers: arbitrary input gives a value or a SluiceError", () => {
  it("consul: health/state/any and health/service answers", () => {
    // One reader for every run, as in the provider: each answer meets the bytes kept from the last.
    const readList = createConsulListReader();
    const check = fc.oneof(consulCheck, consulEntry);
    fc.assert(
      fc.property(listOf(check), listOf(consulEntry), fc.string(), (list, detail, name) => {
        const listed = valueOrSluiceError(() =>
          readList(new TextEncoder().encode(JSON.stringify(list)))
        );
        if (!(listed instanceof SluiceError)) {
          assert.ok([...listed.keys()].every((n) => typeof n === "string" && n !== ""));
        } else assert.equal(listed.code, "PROVIDER_GARBAGE");
        const found = valueOrSluiceError(() => consulInstances(name, detail));
        if (found instanceof SluiceError) return assert.equal(found.code, "PROVIDER_GARBAGE");
        for (const i of found) {
          assert.equal(typeof i.host, "string");
          assert.equal(typeof i.port, "number");
          assert.ok(i.tags.every((x) => typeof x === "string"));
        }
        routeAll(found, "consul");
      }),
      { numRuns: RUNS },
    );
  });

  it("nomad: /v1/services and /v1/service answers", () => {
    fc.assert(
      fc.property(
        listOf(nomadGroup),
        listOf(nomadRegistration),
        fc.string(),
        fc.string(),
        (list, detail, ns, name) => {
          const listed = valueOrSluiceError(() => nomadTaggedServices(list, "sluice"));
          if (listed instanceof SluiceError) assert.equal(listed.code, "PROVIDER_GARBAGE");
          else {for (const s of listed) {
              assert.equal(typeof nomadServiceName(s.ns, s.name), "string");
            }}
          const found = valueOrSluiceError(() => nomadInstances(ns, name, detail));
          if (found instanceof SluiceError) return assert.equal(found.code, "PROVIDER_GARBAGE");
          routeAll(found, "nomad");
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("tags: any list of strings reads without throwing", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(tag, fc.string()), { maxLength: 10 }), (list) => {
        const notes: string[] = [];
        const t = readInstanceTags(list, "sluice", notes);
        assert.ok(t === undefined || typeof t === "object");
      }),
      { numRuns: RUNS },
    );
  });
});

/** A fetch that answers every request with these bytes, status and headers. */
function answering(body: Uint8Array, status: number, headers: Record<string, string>): HttpFetch {
  const noBody = status === 204 || status === 304;
  return () =>
    Promise.resolve(
      new Response(noBody ? null : (body as Uint8Array<ArrayBuffer>), { status, headers }),
    );
}

const status = fc.constantFrom(200, 200, 200, 204, 304, 400, 401, 403, 404, 500, 502, 504);
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
  fc.string().map((s) => new TextEncoder().encode(s)),
);

describe("provider answers as raw bytes", () => {
  it("the Consul/Nomad JSON read: a value, or a SluiceError; over the cap is PROVIDER_TOO_LARGE", async () => {
    const stop = new AbortController();
    await fc.assert(
      fc.asyncProperty(bytes, status, async (body, code) => {
        const get = createJsonGet({
          fetch: answering(body, code, { "content-type": "application/json" }),
          kind: "consul",
          headers: {},
          secrets: ["tok"],
          stop: stop.signal,
          maxBytes: 1024,
        });
        const r = await within(
          valueOrSluiceErrorAsync(() => get("http://h/v1/x", { timeoutMs: 5000, what: "x" })),
          10_000,
          "a JSON read of an in-memory answer",
        );
        if (r instanceof SluiceError) {
          assert.match(r.code, /^PROVIDER_/);
          if (code >= 200 && code < 300 && body.byteLength > 1024) {
            assert.equal(r.code, "PROVIDER_TOO_LARGE");
          }
        } else {
          assert.ok(code >= 200 && code < 300);
          assert.ok(body.byteLength <= 1024);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("an endless body is read only up to the cap", async () => {
    let pulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const get = createJsonGet({
      fetch: () => Promise.resolve(new Response(endless, { status: 200 })),
      kind: "nomad",
      headers: {},
      secrets: [],
      stop: new AbortController().signal,
      maxBytes: 256 * 1024,
    });
    const r = await within(
      valueOrSluiceErrorAsync(() => get("http://h/v1/services", { timeoutMs: 5000, what: "x" })),
      10_000,
      "an endless body",
    );
    assert.ok(r instanceof SluiceError);
    assert.equal(r.code, "PROVIDER_TOO_LARGE");
    assert.ok(pulled <= 256 * 1024 + 5 * chunk.byteLength, `pulled ${pulled} bytes`);
  });

  it("HTTP provider bodies: each poll ends ok or failing with a message, never a crash", async () => {
    const contentType = fc.constantFrom(
      "application/json",
      "application/toml",
      "application/yaml",
      "text/plain",
      "application/json; charset=utf-16",
      "application/json; charset=nope",
      "",
    );
    await fc.assert(
      fc.asyncProperty(bytes, status, contentType, async (body, code, type) => {
        const log = captureLogger();
        const headers: Record<string, string> = type ? { "content-type": type } : {};
        const rt = { httpClient: () => answering(body, code, headers) } as unknown as Runtime;
        const p = createHttpProvider({
          rt,
          log,
          config: {
            endpoint: "http://h/routing",
            pollIntervalMs: 60_000,
            pollTimeoutMs: 5000,
            headers: {},
            maxBytes: 1024,
            tls: { insecure: false },
          },
          backoff: { baseMs: 60_000, maxMs: 60_000 },
        });
        p.start(() => {});
        try {
          await waitFor(() => p.status().state !== "waiting", {
            what: "the first poll",
            timeoutMs: 10_000,
          });
          const st = p.status();
          assert.ok(st.state === "ok" || st.state === "failing", st.state);
          if (st.state === "failing") assert.equal(typeof st.lastError, "string");
          assert.ok(!log.lines.some((l) => l.msg === "provider loop crashed"));
        } finally {
          await within(p.stop(), 10_000, "stop");
        }
      }),
      { numRuns: 100 },
    );
  });
});
