# The Consul ACL policy for sluice's token (routing.consul.token, or SLUICE_ROUTING_CONSUL_TOKEN).
# sluice only reads, with blocking queries, on two endpoints (src/providers/consul.ts):
#
#   GET /v1/health/state/any?filter=ServiceTags contains "sluice" or ServiceID == ""   needs service:read + node:read
#   GET /v1/health/service/<name>?passing                                               needs service:read + node:read
#
# Consul filters out what a token cannot read instead of refusing the query, so a narrower
# service_prefix (say "edge-") makes sluice route only those services. No key/value, agent,
# session, event, query or operator rule, and nothing with "write".
#
#   consul acl policy create -name sluice -rules @sluice-policy.hcl
#   consul acl token create -description "sluice on every client" -policy-name sluice
#
# With Consul Enterprise namespaces (routing.consul.namespace), create it in that namespace.

service_prefix "" {
  policy = "read"
}

node_prefix "" {
  policy = "read"
}
