package sigv4_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

// objectServer is a minimal S3 endpoint: it verifies every request, then
// stores PUT bodies and serves them to GET, by path.
type objectServer struct {
	mu struct {
		sync.Mutex
		objects  map[string][]byte
		payloads []string // x-amz-content-sha256 of each PUT
	}
}

func (s *objectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if _, err := sigv4.Verify(r, keys, time.Now()); err != nil {
		writeError(w, err)
		return
	}
	data, err := io.ReadAll(r.Body) // to the end before acting
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		s.mu.objects[r.URL.Path] = data
		s.mu.payloads = append(s.mu.payloads, payload)
		w.Header().Set("ETag", `"etag"`)
	case http.MethodGet:
		object, ok := s.mu.objects[r.URL.Path]
		if !ok {
			writeError(w, &sigv4.Error{Code: "NoSuchKey", Message: r.URL.Path, Status: http.StatusNotFound})
			return
		}
		w.Write(object)
	default:
		writeError(w, &sigv4.Error{Code: "NotImplemented", Message: r.Method, Status: http.StatusNotImplemented})
	}
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := errors.AsType[*sigv4.Error](err)
	if !ok {
		e = &sigv4.Error{Code: "InternalError", Message: err.Error(), Status: http.StatusInternalServerError}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: e.Code, Message: e.Message})
}

// TestS3Client: the SDK's own S3 client puts, gets and presigns through a
// server that verifies with this package. Over HTTP the SDK signs the
// payload's SHA-256; over HTTPS it sends aws-chunked with a trailing
// checksum.
func TestS3Client(t *testing.T) {
	data := randomData(300 << 10)
	tests := []struct {
		name     string
		tls      bool
		checksum aws.RequestChecksumCalculation
		body     func() io.Reader
		length   bool   // tell the SDK the length of body
		payload  string // the x-amz-content-sha256 the PUT must have used
	}{
		{"http", false, aws.RequestChecksumCalculationWhenSupported, seekable(data), true, sha256Hex(string(data))},
		{"https", true, aws.RequestChecksumCalculationWhenSupported, seekable(data), true, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
		{"https unseekable", true, aws.RequestChecksumCalculationWhenSupported, unseekable(data), true, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
		{"https unseekable, length unknown", true, aws.RequestChecksumCalculationWhenSupported, unseekable(data), false, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
		{"https without checksum", true, aws.RequestChecksumCalculationWhenRequired, seekable(data), true, "UNSIGNED-PAYLOAD"},
		{"http without checksum", false, aws.RequestChecksumCalculationWhenRequired, seekable(data), true, sha256Hex(string(data))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objects := &objectServer{}
			objects.mu.objects = map[string][]byte{}
			var server *httptest.Server
			if tc.tls {
				server = httptest.NewTLSServer(objects)
			} else {
				server = httptest.NewServer(objects)
			}
			defer server.Close()
			client := s3.New(s3.Options{
				Region:                     region,
				BaseEndpoint:               aws.String(server.URL),
				UsePathStyle:               true,
				Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
				HTTPClient:                 server.Client(),
				RetryMaxAttempts:           1,
				RequestChecksumCalculation: tc.checksum,
			})
			ctx := t.Context()
			key := "dir one/café ✓+plus!(1).bin"
			input := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: tc.body()}
			if tc.length {
				input.ContentLength = aws.Int64(int64(len(data)))
			}
			if _, err := client.PutObject(ctx, input); err != nil {
				t.Fatal(err)
			}
			objects.mu.Lock()
			stored, payloads := objects.mu.objects["/bucket/"+key], objects.mu.payloads
			objects.mu.Unlock()
			if !bytes.Equal(stored, data) {
				t.Fatalf("stored %d bytes, want %d", len(stored), len(data))
			}
			if len(payloads) != 1 || payloads[0] != tc.payload {
				t.Fatalf("payloads %q, want %q", payloads, tc.payload)
			}

			got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			read, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil || !bytes.Equal(read, data) {
				t.Fatalf("got %d bytes %v", len(read), err)
			}

			// A client that does not know the secret is refused with S3's code.
			stranger := s3.New(s3.Options{
				Region:           region,
				BaseEndpoint:     aws.String(server.URL),
				UsePathStyle:     true,
				Credentials:      credentials.NewStaticCredentialsProvider(accessKey, "wrong", ""),
				HTTPClient:       server.Client(),
				RetryMaxAttempts: 1,
			})
			_, err = stranger.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("x"), Body: bytes.NewReader(data[:1000])})
			if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
				t.Fatalf("wrong secret: %v", err)
			}

			presigner := s3.NewPresignClient(client)
			put, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned/" + key)})
			if err != nil {
				t.Fatal(err)
			}
			request, _ := http.NewRequestWithContext(ctx, put.Method, put.URL, bytes.NewReader(data[:5000]))
			for name, values := range put.SignedHeader {
				if name != "Host" {
					request.Header[name] = values
				}
			}
			if status, body := send(t, server.Client(), request); status != http.StatusOK {
				t.Fatalf("presigned PUT: %d %s", status, body)
			}
			get, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned/" + key)}, s3.WithPresignExpires(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			request, _ = http.NewRequestWithContext(ctx, get.Method, get.URL, nil)
			if status, body := send(t, server.Client(), request); status != http.StatusOK || body != string(data[:5000]) {
				t.Fatalf("presigned GET: %d, %d bytes", status, len(body))
			}
		})
	}
}

func seekable(data []byte) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(data) }
}

// unseekable hides Seek, so that the SDK cannot hash the body ahead.
func unseekable(data []byte) func() io.Reader {
	return func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }
}

func send(t *testing.T, client *http.Client, request *http.Request) (int, string) {
	t.Helper()
	response, err := client.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response.StatusCode, string(body)
}
