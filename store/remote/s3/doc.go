// Package s3 is the remote.Backend of buckets in S3 or any S3-compatible
// server, through aws-sdk-go-v2: credentials from the SDK's chain
// (environment, shared files, instance roles), and per bucket the
// endpoint, region and path-style addressing of its extra.aws props.
package s3
