package gateway

// Route is a route of the node's table, for tests.
type Route struct {
	Pattern string
	Methods []string
	Intra   bool
}

// Routes lists the node's route table.
func Routes(n *Node) []Route {
	var out []Route
	for _, rt := range n.routeTable() {
		r := Route{Pattern: rt.pattern, Intra: rt.intra}
		for m := range rt.methods {
			r.Methods = append(r.Methods, m)
		}
		out = append(out, r)
	}
	return out
}
