// Usage texts for `sluice --help` and `sluice <command> --help`.
export const USAGE: Record<string, string> = {
  main: `sluice: an L4 TCP proxy whose listeners follow the routing its providers discover

Usage:
  sluice [run] [-c|--config PATH] [--log-level debug|info|warn|error] [--log-format text|json]
  sluice run --forward [LABEL:]PORT:HOST:PORT ...
  sluice check [-c PATH] [--routing PATH]
  sluice bootstrap --forward [LABEL:]PORT:HOST:PORT ... -o DIR
  sluice import iaido|tcpffee|tcpproxy FILE -o DIR
  sluice health [-c PATH] [--admin URL|HOST:PORT]
  sluice version

Commands:
  run        run the proxy (the default)
  check      validate the config and routing, print the resolved table
  bootstrap  write config.toml and routing.toml for the given forwards
  import     write config.toml and routing.toml from iaido's, tcpffee's or tcpproxy's config
  health     probe a running sluice's admin /healthz: exit 0 healthy, 1 not
  version    print the version

Run 'sluice <command> --help' for a command's options.
Exit codes: 0 ok, 1 runtime failure (check: invalid routes), 2 usage or configuration error.
`,
  run: `Usage: sluice run [-c|--config PATH] [--forward [LABEL:]PORT:HOST:PORT ...]
                  [--log-level debug|info|warn|error] [--log-format text|json]

Runs the proxy. With no config and no --forward it starts with no routes and the admin API on
its default address. SIGHUP (on Bun also SIGUSR1) reloads; SIGTERM or SIGINT drains and exits.

  -c, --config PATH     main config (.toml, .yaml, .yml, .json, .hcl, .env, .properties);
                        also -config PATH. Without it: $SLUICE_CONFIG, else the first of
                        ./config.toml, ./config.yaml, ./config.yml, ./config.json and
                        /etc/sluice/config.toml that exists (the start log says which)
  --forward SPEC        open LABEL:PORT (label "local" unless given) to HOST:PORT; repeatable,
                        the same listener twice balances over both backends
  --log-level LEVEL     debug, info, warn or error
  --log-format FORMAT   text or json
`,
  check: `Usage: sluice check [-c|--config PATH] [--routing PATH]

Validates the main config and the routing document (--routing, else routing.file.path) and
prints the resolved listener table. Exit 0 when everything is valid, 1 when some routes are
dropped, 2 when a file cannot be used at all.
`,
  bootstrap: `Usage: sluice bootstrap --forward [LABEL:]PORT:HOST:PORT ... -o DIR

Writes DIR/config.toml and DIR/routing.toml that give the same routes as these forwards.
`,
  import: `Usage: sluice import iaido|tcpffee|tcpproxy FILE -o DIR

Reads another proxy's own config (iaido's YAML, tcpffee's TOML, tcpproxy's YAML), writes
DIR/config.toml and DIR/routing.toml that give the same routes, prints every setting it could
not carry over and why, and checks the result as 'sluice check' does. Exit 0 when the result is
valid, 1 when the check found problems, 2 when FILE cannot be read or is not that format.
`,
  health: `Usage: sluice health [-c|--config PATH] [--admin URL|HOST:PORT]

Probes GET /healthz on a running sluice's admin API (no token needed) and prints one line.
Exit 0 when it answers 200 within 5 s, 1 otherwise (refused, timeout, another status, or the
admin API is off). Without --admin the address is admin.listener from the config (-c), the
SLUICE_ADMIN_LISTENER variable or the default 127.0.0.1:9090; a wildcard listener (0.0.0.0,
[::]) is probed on loopback. For a container HEALTHCHECK or a watchdog, with no curl needed.

  -c, --config PATH     main config whose admin.listener to probe
  --admin ADDRESS       http(s)://HOST:PORT[/healthz] or HOST:PORT (overrides the config)
`,
  version: `Usage: sluice version

Prints the version of sluice and of the runtime it runs on.
`,
};
