# sluice on every Nomad client: a system job on the host network, the release binary fetched as
# an artifact and checked against its SHA-256, its config rendered from a template. Routing
# comes from Consul (every instance reads the same catalog, so with balance = "hash" they agree
# on backends without talking to each other); the Nomad provider is shown commented out.
#
#   nomad var put nomad/jobs/sluice consul_token=<token of sluice-policy.hcl in ../consul> \
#     admin_token=$(openssl rand -hex 24)
#   nomad job run -var version=0.1.0 -var sha256=<sluice-linux-x64 line of SHA256SUMS> sluice.nomad.hcl
#
# Checked in tests/deploy/discovery_examples_test.ts: no nomad binary or HCL parser there, so
# the job's structure is read as text, and its config template is rendered and run against
# the Consul emulator.

variable "version" {
  type        = string
  description = "sluice release to run, without the v"
  default     = "0.1.0"
}

variable "sha256" {
  type        = string
  description = "SHA-256 of sluice-linux-x64, from the release's SHA256SUMS"
}

variable "release_url" {
  type    = string
  default = "https://github.com/sluice-proxy/sluice/releases/download"
}

job "sluice" {
  type        = "system"
  datacenters = ["*"]

  # Replace one client at a time; a node keeps its old instance until the new one is healthy.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "sluice" {
    network {
      mode = "host"
      # Admin API (metrics, /healthz) on the node's address; routed listeners are opened by
      # sluice itself from the catalog, directly on the host's interfaces.
      port "admin" {
        static = 9090
      }
    }

    restart {
      attempts = 10
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    # For Prometheus (consul_sd_configs: services [sluice-admin]); the check is sluice's own.
    service {
      name     = "sluice-admin"
      port     = "admin"
      provider = "consul"
      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    task "sluice" {
      driver = "exec"

      artifact {
        source      = "${var.release_url}/v${var.version}/sluice-linux-x64"
        destination = "local/sluice"
        mode        = "file"
        options {
          checksum = "sha256:${var.sha256}"
        }
      }

      config {
        command = "local/sluice"
        args    = ["run", "-c", "local/config.toml"]
        # Routes may ask for ports below 1024.
        cap_add = ["net_bind_service"]
      }

      # SIGTERM drains for listeners.drain_timeout (30s below); give it that before SIGKILL.
      kill_signal  = "SIGTERM"
      kill_timeout = "35s"

      template {
        destination   = "local/config.toml"
        # A changed config (or token) is re-read on SIGHUP without dropping connections.
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<EOH
[listeners]
port_min = 1
port_max = 65535
drain_timeout = "30s"

[listeners.allowed]
any = "0.0.0.0"
node = "{{ env "attr.unique.network.ip-address" }}"
local = "127.0.0.1"

[admin]
listener = "{{ env "attr.unique.network.ip-address" }}:{{ env "NOMAD_PORT_admin" }}"
token = "{{ with nomadVar "nomad/jobs/sluice" }}{{ .admin_token }}{{ end }}"

[log]
format = "json"

[routing.consul]
address = "http://{{ env "attr.unique.network.ip-address" }}:8500"
token = "{{ with nomadVar "nomad/jobs/sluice" }}{{ .consul_token }}{{ end }}"
tag = "sluice"
consistency_mode = "stale"

# Or Nomad's own service registrations (provider = "nomad"), with a token of sluice-policy.hcl:
# [routing.nomad]
# address = "http://{{ env "attr.unique.network.ip-address" }}:4646"
# namespace = "*"
# token = "{{ with nomadVar "nomad/jobs/sluice" }}{{ .nomad_token }}{{ end }}"
EOH
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
