// Package api is the Go client of AIS-Go and the wire types of its REST API,
// which follows AIStore's conventions: /v1/buckets, /v1/objects, /v1/cluster,
// /v1/sort; JSON action messages {"action","name","value"}; list-objects
// pages with continuation tokens; errors as JSON {"message","status",...}.
//
// The client follows redirects from gateways to targets (re-sending PUT
// bodies), and decodes errors back to the sentinels of the store and cluster
// packages, so errors.Is works across the network:
//
//	c := api.NewClient("http://localhost:8080")
//	err := c.CreateBucket(ctx, "images", nil)
//	_, err = c.Put(ctx, "images", "cat.jpg", f, api.PutOptions{Size: size})
//	_, err = c.Head(ctx, "images", "dog.jpg")
//	if errors.Is(err, api.ErrNotFound) { ... }
package api
