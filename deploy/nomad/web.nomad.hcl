# An example service whose tags route it through sluice: every client's sluice opens port 8080
# on all its interfaces and balances over the healthy "web" allocations (Consul routes only
# passing instances). Any node's address, port 8080, reaches the service.
#
#   nomad job run web.nomad.hcl
#   curl http://<any client>:8080/

job "web" {
  type        = "service"
  datacenters = ["*"]

  group "web" {
    count = 3

    network {
      port "http" {
        to = 80
      }
    }

    service {
      name     = "web"
      port     = "http"
      provider = "consul"
      tags = [
        "sluice",
        "sluice.listener=any:8080",
        "sluice.balance=hash",
        "sluice.max_connections=10000",
      ]
      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "web" {
      driver = "docker"
      config {
        image = "traefik/whoami:v1.10"
        ports = ["http"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
