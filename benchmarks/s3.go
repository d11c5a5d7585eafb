package benchmarks

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/pool"
)

// The access key of the embedded node's S3 API: requests are signed and
// checked, as a deployment with keys would.
const (
	benchS3Key    = "AKIDAISGOBENCH"
	benchS3Secret = "the-benchmark-secret"
)

func s3Suite() Suite {
	return Suite{
		Name:        "s3",
		Doc:         "PUT and GET of 1 MiB and 100 KiB objects with the aws-sdk-go-v2 client through /s3 (SigV4 checked), beside the native API and bare net/http, on an embedded node on disk and in dry-run",
		DefaultSize: 256 << 20,
		Run:         runS3,
	}
}

func runS3(ctx context.Context, cfg Config) ([]Result, error) {
	rec := newRecorder("s3", cfg.Logger)
	src := randomBytes(srcSize)
	lb, err := startLoopback(src)
	if err != nil {
		return nil, err
	}
	defer lb.close()
	for _, size := range objectSizes {
		if err := lb.figures(ctx, rec, cfg.Size, size, httpWorkers, ""); err != nil {
			return rec.results, err
		}
		if err := hashFigure(ctx, rec, cfg, src, size); err != nil {
			return rec.results, err
		}
	}
	for _, dryRun := range []bool{true, false} {
		if err := s3Figures(ctx, rec, cfg, src, dryRun); err != nil {
			return rec.results, err
		}
	}
	return rec.results, nil
}

// hashName names the hashing a signed S3 PUT of size costs on this host.
func hashName(size int) string {
	return fmt.Sprintf("S3 PUT hashing (2 SHA-256 + MD5) %s, %d streams", sizeName(size), httpWorkers)
}

// hashFigure measures the hashing a signed PUT through the SDK costs, on
// the CPUs the client and the node share: the SDK's SHA-256 of the
// payload, the node's check of it and the ETag's MD5. No PUT through S3
// outruns it on this host.
func hashFigure(ctx context.Context, rec *recorder, cfg Config, src []byte, size int) error {
	n := count(cfg.Size, size)
	f := figure{name: hashName(size), bytes: n * int64(size), ops: n, repeat: true,
		note: "the bytes of the S3 PUT figures hashed in memory, nothing sent: the CPU a signed S3 PUT cannot avoid (the native API checks xxhash)"}
	return rec.measure(ctx, f, func() error {
		return runWorkers(ctx, httpWorkers, n, 0, func(_ context.Context, i int64, _ []byte) error {
			data := slice(src, i, size)
			client, check := sha256.Sum256(data), sha256.Sum256(data)
			etag := md5.Sum(data)
			if client != check || etag == [md5.Size]byte{} {
				return errors.New("the hashes of one body differ")
			}
			return nil
		})
	})
}

// s3Figures measures the native API and then S3 on one embedded node, for
// each object size, with httpWorkers workers.
func s3Figures(ctx context.Context, rec *recorder, cfg Config, src []byte, dryRun bool) error {
	where, node, native, err := benchNode(ctx, cfg, dryRun)
	if err != nil {
		return err
	}
	defer node.close()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(node.url + "/s3"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(benchS3Key, benchS3Secret, ""),
		// The native client's transport (128 KiB buffers): the figures
		// compare the server's paths, not two clients' defaults.
		HTTPClient: &http.Client{Transport: api.NewTransport()},
	})
	s3Where := "S3"
	if dryRun {
		s3Where = "S3 dry-run"
	}
	for _, size := range objectSizes {
		n := count(cfg.Size, size)
		bytesMoved := n * int64(size)
		// Each PUT figure stores new objects under its own prefix, as the
		// native PUT does: overwrites cost more (the old file is freed).
		prefix := fmt.Sprintf("native-%d/", size)
		sdkPrefix, presignedPrefix := fmt.Sprintf("s3-%d/", size), fmt.Sprintf("presigned-%d/", size)
		nativePut := figure{name: apiName(where, "PUT", size, false, httpWorkers), baseline: loopbackName("PUT", size, httpWorkers), bytes: bytesMoved, ops: n, repeat: dryRun}
		nativeGet := figure{name: apiName(where, "GET", size, false, httpWorkers), baseline: loopbackName("GET", size, httpWorkers), bytes: bytesMoved, ops: n, repeat: true}
		if err := rec.measure(ctx, nativePut, func() error { return apiPut(ctx, native, prefix, src, n, size, httpWorkers) }); err != nil {
			return err
		}
		if err := rec.measure(ctx, nativeGet, func() error { return apiGet(ctx, native, prefix, n, size, httpWorkers) }); err != nil {
			return err
		}
		note := "aws-sdk-go-v2 with the native client's transport, path-style, signed; the gateway streams to the target (no redirect)"
		put := figure{name: apiName(s3Where, "PUT", size, false, httpWorkers), baseline: nativePut.name, bounds: []string{loopbackName("PUT", size, httpWorkers), hashName(size)}, bytes: bytesMoved, ops: n, repeat: dryRun, note: note}
		get := figure{name: apiName(s3Where, "GET", size, false, httpWorkers), baseline: nativeGet.name, bounds: []string{loopbackName("GET", size, httpWorkers)}, bytes: bytesMoved, ops: n, repeat: true, note: note}
		err := rec.measure(ctx, put, func() error {
			return runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
				_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(benchBucket), Key: aws.String(sdkPrefix + objectName(i)), Body: bytes.NewReader(slice(src, i, size)), ContentLength: aws.Int64(int64(size))})
				return err
			})
		})
		if err != nil {
			return err
		}
		err = rec.measure(ctx, get, func() error {
			return runWorkers(ctx, httpWorkers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(benchBucket), Key: aws.String(sdkPrefix + objectName(i))})
				if err != nil {
					return err
				}
				got, err := drainInto(out.Body, buf)
				out.Body.Close()
				if err != nil {
					return err
				}
				return expectSize(sdkPrefix+objectName(i), got, int64(size))
			})
		})
		if err != nil {
			return err
		}
		if err := presignedFigures(ctx, rec, client, s3Where, presignedPrefix, src, n, size, nativePut, nativeGet); err != nil {
			return err
		}
	}
	return nil
}

// presignedFigures measures the same PUTs and GETs as plain net/http
// requests to URLs presigned before the clock starts: the server's S3
// path (the signature checked, for a PUT the MD5 ETag) beside the native
// API, without the SDK's own cost on the client, which shares the CPUs.
func presignedFigures(ctx context.Context, rec *recorder, client *s3.Client, where, prefix string, src []byte, n int64, size int, nativePut, nativeGet figure) error {
	presign := s3.NewPresignClient(client)
	putURLs, getURLs := make([]string, n), make([]string, n)
	for i := range n {
		key := aws.String(prefix + objectName(i))
		put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(benchBucket), Key: key})
		if err != nil {
			return err
		}
		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(benchBucket), Key: key})
		if err != nil {
			return err
		}
		putURLs[i], getURLs[i] = put.URL, get.URL
	}
	httpClient := &http.Client{Transport: api.NewTransport()}
	defer httpClient.CloseIdleConnections()
	note := "net/http (the native client's transport) to URLs presigned before the clock starts (UNSIGNED-PAYLOAD): the server's S3 path without the SDK's cost on the client"
	put := figure{name: apiName(where+" presigned", "PUT", size, false, httpWorkers), baseline: nativePut.name, bytes: n * int64(size), ops: n, repeat: nativePut.repeat, note: note}
	get := figure{name: apiName(where+" presigned", "GET", size, false, httpWorkers), baseline: nativeGet.name, bytes: n * int64(size), ops: n, repeat: true, note: note}
	err := rec.measure(ctx, put, func() error {
		return runWorkers(ctx, httpWorkers, n, 0, func(ctx context.Context, i int64, _ []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, putURLs[i], bytes.NewReader(slice(src, i, size)))
			if err != nil {
				return err
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("presigned PUT %s: %s", prefix+objectName(i), resp.Status)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return rec.measure(ctx, get, func() error {
		return runWorkers(ctx, httpWorkers, n, pool.CopyBufferSize, func(ctx context.Context, i int64, buf []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, getURLs[i], nil)
			if err != nil {
				return err
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				return err
			}
			got, err := drainInto(resp.Body, buf)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("presigned GET %s: %s", prefix+objectName(i), resp.Status)
			}
			return expectSize(prefix+objectName(i), got, int64(size))
		})
	})
}
