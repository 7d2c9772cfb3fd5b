# The Nomad ACL policy for sluice's token (routing.nomad.token, or SLUICE_ROUTING_NOMAD_TOKEN),
# for the Nomad provider. sluice only reads Nomad's native service registrations, with blocking
# queries (src/providers/nomad.ts):
#
#   GET /v1/services?namespace=<ns or *>        needs read-job in the namespaces listed
#   GET /v1/service/<name>?namespace=<ns>       needs read-job in that namespace
#
# Namespaces the token cannot read are left out of the answers. Narrow "*" to the namespaces
# whose services sluice should route. No node, agent, operator, quota or plugin rule.
#
#   nomad acl policy apply -description "sluice: read service registrations" sluice sluice-policy.hcl
#   nomad acl token create -name sluice -policy sluice

namespace "*" {
  capabilities = ["read-job"]
}
