// Structured logging: text or JSON lines on stderr, a named child logger per component.
// Nothing else in sluice writes to the console.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  readonly component: string;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** True when a message at this level would be written: guard costly field building on hot paths. */
  enabled(level: LogLevel): boolean;
  child(component: string): Logger;
}

export interface LogSink {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; stderr by default. Tests replace it to capture lines. */
  write: (line: string) => void;
}

/** What became of the default sink (stderr): a dead sink is noted here once, never thrown. */
export interface LogSinkHealth {
  /** stderr failed (EPIPE from a reader that went away, EBADF, ...): lines are dropped. */
  failed: boolean;
  /** The first error, as text. */
  error: string | undefined;
  /** Lines dropped since. */
  dropped: number;
}

const sinkHealth: LogSinkHealth = { failed: false, error: undefined, dropped: 0 };

/** The state of the stderr sink, for status pages and tests. */
export function logSinkHealth(): Readonly<LogSinkHealth> {
  return sinkHealth;
}

function sinkFailed(e: unknown): void {
  if (sinkHealth.failed) return;
  sinkHealth.failed = true;
  sinkHealth.error = e instanceof Error ? e.message : String(e);
}

let stderrWatched = false;

/**
 * Lines to stderr, never throwing: a broken pipe arrives as an "error" event on
 * process.stderr (or a throw), which marks the sink failed once; later lines are counted and
 * dropped. Writing on would only raise the error again (and an unhandled "error" event is an
 * uncaught exception that the crash guard logs: to the same stderr, forever).
 */
function writeStderr(line: string): void {
  if (sinkHealth.failed) {
    sinkHealth.dropped++;
    return;
  }
  try {
    if (!stderrWatched) {
      stderrWatched = true;
      process.stderr.on("error", sinkFailed);
    }
    process.stderr.write(line + "\n");
  } catch (e) {
    sinkFailed(e);
    sinkHealth.dropped++;
  }
}

/** The process-wide sink; `configureLogging()` changes it in place so existing loggers follow. */
export const logSink: LogSink = { level: "info", format: "text", write: writeStderr };

export function configureLogging(o: Partial<LogSink>): void {
  if (o.level) logSink.level = o.level;
  if (o.format) logSink.format = o.format;
  if (o.write) logSink.write = o.write;
}

function textValue(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return String(v);
}

function format(level: LogLevel, component: string, msg: string, fields?: LogFields): string {
  const time = new Date().toISOString();
  if (logSink.format === "json") {
    const rec: LogFields = { time, level, component, msg };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined) rec[k] = v instanceof Error ? v.message : v;
      }
    }
    return JSON.stringify(rec);
  }
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${textValue(v)}`;
    }
  }
  return line;
}

export function createLogger(component = "sluice"): Logger {
  const at = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (LEVELS[level] < LEVELS[logSink.level]) return;
    // Logging never throws: not for a field that will not serialise, not for a dead sink.
    let line: string;
    try {
      line = format(level, component, msg, fields);
    } catch (e) {
      line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}` +
        ` (fields not logged: ${e instanceof Error ? e.message : String(e)})`;
    }
    try {
      logSink.write(line);
    } catch { /* a sink that throws loses the line; the caller goes on */ }
  };
  return {
    component,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    enabled: (level) => LEVELS[level] >= LEVELS[logSink.level],
    child: (name) => createLogger(component === "sluice" ? name : `${component}.${name}`),
  };
}

export const rootLogger: Logger = createLogger("sluice");
