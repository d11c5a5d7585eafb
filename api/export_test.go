package api

// KnowsNode exposes knowsNode: whether a redirect's URL is of a node the
// client knows.
func KnowsNode(c *Client, link string) bool { return c.knowsNode(link) }
