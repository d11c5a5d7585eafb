package gateway

import "github.com/aisgo/aisgo/cluster"

// Route is a route of the node's table, for tests.
type Route struct {
	Method, Pattern string
	Intra           bool
	// Served: the node's role serves the route.
	Served bool
}

// Routes lists the node's route table.
func Routes(n *Node) []Route {
	var out []Route
	for _, rt := range n.routeTable() {
		out = append(out, Route{Method: rt.method, Pattern: rt.pattern, Intra: rt.intra, Served: rt.roles.serves(n.config.Role)})
	}
	return out
}

// ServedBy reports which roles serve a route of the table.
func ServedBy(n *Node, method, pattern string) (gateway, target bool) {
	for _, rt := range n.routeTable() {
		if rt.method == method && rt.pattern == pattern {
			return rt.roles.serves(cluster.RoleGateway), rt.roles.serves(cluster.RoleTarget)
		}
	}
	return false, false
}
