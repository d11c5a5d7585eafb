// Package authn is authentication and access control: users, roles and
// their permissions, JWTs that carry a user's grants, and the Verifier
// every node runs on requests.
//
// The AuthN service (Service, run by `aisnode -role authn`) keeps users,
// roles and the clusters it serves in a state file, and issues tokens
// signed HS256 with a shared secret or RS256 with a key pair. A token
// carries what its holder may do (Grants), so nodes check it without
// asking the service. A revoked token is pushed to every registered
// cluster, whose control plane hands it to every node with the next
// metadata round.
//
// Permissions: GET, HEAD, PUT, DELETE, LIST, CREATE-BUCKET,
// DESTROY-BUCKET and ADMIN (everything). Built-in roles: admin,
// bucket-owner, read-only.
package authn
