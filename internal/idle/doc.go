// Package idle gives up on a body that stops moving: a fetch from a
// remote or an origin takes as long as its bytes take, but one whose
// sender goes silent is cancelled once nothing arrived for a while.
//
// Usage:
//
//	ctx, watch := idle.Watch(ctx, 2*time.Minute, errStalled)
//	defer watch.Stop()
//	resp, err := client.Do(req.WithContext(ctx))
//	io.Copy(dst, watch.Reader(resp.Body))
package idle
