package sigv4_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aisgo/aisgo/gateway/s3/sigv4"
)

const (
	accessKey   = "AKIDEXAMPLE"
	secretKey   = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	region      = "us-east-1"
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var (
	keys     = sigv4.StaticKeys{accessKey: secretKey}
	signTime = time.Date(2024, 5, 24, 12, 0, 0, 0, time.UTC)
	good     = aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
)

// s3Options signs as the SDK's S3 client does: the path is signed as
// sent, escaped once.
func s3Options(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }

func sign(t testing.TB, r *http.Request, payload string, credentials aws.Credentials, service string) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(t.Context(), credentials, r, payload, service, region, signTime, s3Options); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

// checkCode fails unless err is an *sigv4.Error with code whose message
// holds message.
func checkCode(t testing.TB, err error, code, message string) {
	t.Helper()
	e, ok := errors.AsType[*sigv4.Error](err)
	if !ok {
		t.Fatalf("error %v, want %s", err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, message) {
		t.Fatalf("error %s %q, want %s with %q", e.Code, e.Message, code, message)
	}
	if e.Status != http.StatusForbidden && e.Status != http.StatusBadRequest && e.Status != http.StatusNotImplemented {
		t.Fatalf("status %d", e.Status)
	}
}

func TestHeaderSignedRequestsPass(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string // as the client sends it: the path escaped as the SDK does
		header  http.Header
		body    string
		payload string // x-amz-content-sha256; "" is the SHA-256 of body
	}{
		{
			name:   "GET with range and odd query",
			method: http.MethodGet,
			// '+' is a space, lowercase escapes, a key without '=',
			// repeats out of order: all as sent, not as the SDK rewrites it.
			target: "http://example.com/bucket/key?prefix=a+b%2fc&marker=~x%21%2A%27%28%29&empty=&flag&list-type=2&dup=b&dup=a&x=%7e&odd%20key=1&%7etilde=2",
			header: http.Header{"Range": {"bytes=0-9"}},
		},
		{
			name:   "PUT with headers",
			method: http.MethodPut,
			target: "http://example.com/bucket/object.txt",
			header: http.Header{
				"Content-Type":        {"text/plain"},
				"Cache-Control":       {"no-cache"},
				"X-Amz-Meta-Spaced":   {"  lots   of  spaces "},
				"X-Amz-Meta-Multi":    {"one", "two"},
				"X-Amz-Storage-Class": {"STANDARD"},
			},
			body: "hello, world",
		},
		{
			name:   "path with spaces and unicode",
			method: http.MethodPut,
			target: "http://example.com/bucket/dir%20one/caf%C3%A9%20%E2%9C%93%2Bplus%21%24.txt",
			body:   "data",
		},
		{
			name:   "path neither normalized nor unescaped",
			method: http.MethodGet,
			target: "http://example.com/bucket//a/./b/../c%2Fd",
		},
		{name: "service root", method: http.MethodGet, target: "http://example.com/"},
		{name: "host with port", method: http.MethodGet, target: "http://example.com:9000/bucket?location"},
		{
			name:    "unsigned payload",
			method:  http.MethodPut,
			target:  "http://example.com/bucket/unsigned?partNumber=1&uploadId=a%2Fb",
			body:    "not hashed",
			payload: "UNSIGNED-PAYLOAD",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			for name, values := range tc.header {
				r.Header[name] = values
			}
			payload := tc.payload
			if payload == "" {
				payload = sha256Hex(tc.body)
			}
			sent := r.URL.RawQuery
			sign(t, r, payload, good, "s3")
			r.URL.RawQuery = sent // the SDK rewrote it to its canonical form
			verified, err := sigv4.Verify(r, keys, signTime.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if verified.AccessKey != accessKey || verified.Region != region || verified.Presigned {
				t.Fatalf("%+v", verified)
			}
			data, err := io.ReadAll(r.Body)
			if err != nil || string(data) != tc.body {
				t.Fatalf("body %q %v, want %q", data, err, tc.body)
			}
		})
	}
}

func TestHeaderSignedRefusals(t *testing.T) {
	tests := []struct {
		name        string
		credentials aws.Credentials
		service     string
		tamper      func(r *http.Request)
		now         time.Time
		code        string
		message     string
	}{
		{name: "wrong secret", credentials: aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: "other"}, code: "SignatureDoesNotMatch"},
		{name: "unknown key", credentials: aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: secretKey}, code: "InvalidAccessKeyId", message: "AKIDUNKNOWN"},
		{name: "late", now: signTime.Add(16 * time.Minute), code: "RequestTimeTooSkewed"},
		{name: "early", now: signTime.Add(-16 * time.Minute), code: "RequestTimeTooSkewed"},
		{name: "tampered signed header", tamper: func(r *http.Request) { r.Header.Set("Range", "bytes=0-99") }, code: "SignatureDoesNotMatch"},
		{name: "tampered meta", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Owner", "mallory") }, code: "SignatureDoesNotMatch"},
		{name: "tampered path", tamper: func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/bucket/other", "" }, code: "SignatureDoesNotMatch"},
		{name: "tampered query", tamper: func(r *http.Request) { r.URL.RawQuery += "&versionId=1" }, code: "SignatureDoesNotMatch"},
		{name: "tampered method", tamper: func(r *http.Request) { r.Method = http.MethodDelete }, code: "SignatureDoesNotMatch"},
		{name: "tampered host", tamper: func(r *http.Request) { r.Host = "evil.example.com" }, code: "SignatureDoesNotMatch"},
		{name: "signed header dropped", tamper: func(r *http.Request) { r.Header.Del("Range") }, code: "SignatureDoesNotMatch", message: "range"},
		{name: "unsigned x-amz header added", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, code: "AccessDenied", message: "x-amz-acl"},
		{name: "no signature", tamper: func(r *http.Request) { r.Header.Del("Authorization") }, code: "AccessDenied"},
		{name: "no content hash", tamper: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, code: "InvalidRequest", message: "x-amz-content-sha256"},
		{name: "both header and query", tamper: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, code: "InvalidArgument"},
		{name: "other service", service: "ec2", code: "AuthorizationHeaderMalformed", message: "ec2"},
		{
			name:    "credential of another day",
			tamper:  func(r *http.Request) { r.Header.Set("X-Amz-Date", "20240525T000000Z") },
			now:     time.Date(2024, 5, 25, 0, 0, 0, 0, time.UTC),
			code:    "AuthorizationHeaderMalformed",
			message: "credential date",
		},
		{name: "no date", tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: "AccessDenied", message: "Date"},
		{name: "bad date", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2024-05-24") }, code: "AccessDenied", message: "X-Amz-Date"},
		{name: "misspelt component", tamper: replaceInAuthorization("SignedHeaders=", "Signedheaders="), code: "AuthorizationHeaderMalformed"},
		{name: "host not signed", tamper: replaceInAuthorization("SignedHeaders=host;", "SignedHeaders="), code: "AuthorizationHeaderMalformed", message: "host"},
		{name: "uppercase signature", tamper: func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			i := strings.Index(auth, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", auth[:i]+strings.ToUpper(auth[i:]))
		}, code: "AuthorizationHeaderMalformed"},
		{name: "two Authorization headers", tamper: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, code: "AuthorizationHeaderMalformed"},
		{name: "too many signed headers", tamper: replaceInAuthorization("SignedHeaders=", "SignedHeaders="+strings.Repeat("x-h;", 300)), code: "AuthorizationHeaderMalformed", message: "at most"},
		{name: "signed header repeated", tamper: replaceInAuthorization("SignedHeaders=host;", "SignedHeaders=host;host;"), code: "AuthorizationHeaderMalformed", message: "distinct"},
		{name: "region not a name", tamper: replaceInAuthorization("/us-east-1/", "/"+strings.Repeat("r", 5000)+"/"), code: "AuthorizationHeaderMalformed", message: "region"},
		{name: "SigV4A", tamper: replaceInAuthorization("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "), code: "NotImplemented"},
		{name: "SigV2", tamper: func(r *http.Request) { r.Header.Set("Authorization", "AWS "+accessKey+":c2ln") }, code: "InvalidRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://example.com/bucket/key?list-type=2", nil)
			r.Header.Set("Range", "bytes=0-9")
			r.Header.Set("X-Amz-Meta-Owner", "alice")
			credentials, service, now := tc.credentials, tc.service, tc.now
			if credentials.AccessKeyID == "" {
				credentials = good
			}
			if service == "" {
				service = "s3"
			}
			if now.IsZero() {
				now = signTime
			}
			sign(t, r, emptySHA256, credentials, service)
			if tc.tamper != nil {
				tc.tamper(r)
			}
			verified, err := sigv4.Verify(r, keys, now)
			if err == nil {
				t.Fatalf("accepted: %+v", verified)
			}
			checkCode(t, err, tc.code, tc.message)
		})
	}
}

func replaceInAuthorization(old, new string) func(r *http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

// signByHand signs a GET of /bucket/key with an empty payload, given its
// canonical headers: for what the SDK never signs.
func signByHand(r *http.Request, canonicalHeaders, signedHeaders string) {
	canonical := "GET\n/bucket/key\n\n" + canonicalHeaders + "\n" + signedHeaders + "\n" + emptySHA256
	chain := newTestChain(secretKey, "")
	toSign := "AWS4-HMAC-SHA256\n" + chain.timestamp + "\n" + chain.scope + "\n" + sha256Hex(canonical)
	signature := hex.EncodeToString(mac(chain.key, toSign))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+chain.scope+", SignedHeaders="+signedHeaders+", Signature="+signature)
}

// TestDateHeader: without X-Amz-Date, the Date header is the request
// time, signed in ISO 8601 form.
func TestDateHeader(t *testing.T) {
	date := signTime.Format(http.TimeFormat)
	r := httptest.NewRequest(http.MethodGet, "http://example.com/bucket/key", nil)
	r.Header.Set("Date", date)
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	signByHand(r, "date:"+date+"\nhost:example.com\nx-amz-content-sha256:"+emptySHA256+"\n", "date;host;x-amz-content-sha256")
	if _, err := sigv4.Verify(r, keys, signTime.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := sigv4.Verify(r, keys, signTime.Add(20*time.Minute))
	checkCode(t, err, "RequestTimeTooSkewed", "")
}

// TestTransferEncodingSigned: net/http moves Transfer-Encoding out of the
// header map, yet a client may have signed it.
func TestTransferEncodingSigned(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/bucket/key", nil)
	r.Header.Set("X-Amz-Date", signTime.Format("20060102T150405Z"))
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	r.TransferEncoding = []string{"chunked"}
	signByHand(r, "host:example.com\ntransfer-encoding:chunked\nx-amz-content-sha256:"+emptySHA256+"\nx-amz-date:"+signTime.Format("20060102T150405Z")+"\n",
		"host;transfer-encoding;x-amz-content-sha256;x-amz-date")
	if _, err := sigv4.Verify(r, keys, signTime); err != nil {
		t.Fatal(err)
	}
}

func TestContentHashMismatch(t *testing.T) {
	r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/key", strings.NewReader("hellO"))
	sign(t, r, sha256Hex("hello"), good, "s3")
	if _, err := sigv4.Verify(r, keys, signTime); err != nil {
		t.Fatal(err) // the body is only known by reading it
	}
	data, err := io.ReadAll(r.Body)
	checkCode(t, err, "XAmzContentSHA256Mismatch", "x-amz-content-sha256")
	// Never the whole of a body that fails: a reader streaming it on to
	// where it is stored would store it.
	if len(data) >= len("hellO") {
		t.Fatalf("read %q before the error", data)
	}
	if _, err := r.Body.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("the error is not sticky: %v", err)
	}
}

// presign signs target as a presigned URL valid for expires seconds and
// returns the URL and the headers the request must carry.
func presign(t *testing.T, method, target string, header http.Header, expires int, credentials aws.Credentials) (string, http.Header) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	query := r.URL.Query()
	query.Set("X-Amz-Expires", strconv.Itoa(expires))
	r.URL.RawQuery = query.Encode()
	for name, values := range header {
		r.Header[name] = values
	}
	signed, headers, err := v4.NewSigner().PresignHTTP(t.Context(), credentials, r, "UNSIGNED-PAYLOAD", "s3", region, signTime, s3Options)
	if err != nil {
		t.Fatal(err)
	}
	return signed, headers
}

func presignedRequest(method, target string, headers http.Header, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for name, values := range headers {
		if name != "Host" {
			r.Header[name] = values
		}
	}
	return r
}

func TestPresigned(t *testing.T) {
	putHeaders := http.Header{
		"Content-Type":        {"application/octet-stream"},
		"X-Amz-Meta-Owner":    {"alice"},
		"X-Amz-Request-Payer": {"requester"}, // hoisted into the query
	}
	tests := []struct {
		name    string
		method  string
		target  string
		header  http.Header
		expires int
		secret  string
		tamper  func(r *http.Request)
		now     time.Time
		code    string
		message string
	}{
		{name: "GET", method: http.MethodGet, target: "http://example.com/bucket/dir%20one/caf%C3%A9.txt?versionId=v%2B1"},
		{name: "PUT", method: http.MethodPut, target: "http://example.com/bucket/upload", header: putHeaders},
		{name: "last second", method: http.MethodGet, target: "http://example.com/bucket/key", now: signTime.Add(15 * time.Minute)},
		{name: "expired", method: http.MethodGet, target: "http://example.com/bucket/key", now: signTime.Add(15*time.Minute + time.Second), code: "AccessDenied", message: "Request has expired"},
		{name: "not valid yet", method: http.MethodGet, target: "http://example.com/bucket/key", now: signTime.Add(-20 * time.Minute), code: "AccessDenied", message: "not valid yet"},
		{name: "over a week", method: http.MethodGet, target: "http://example.com/bucket/key", expires: 604801, code: "AuthorizationQueryParametersError", message: "X-Amz-Expires must be at most 604800"},
		{name: "zero expiry", method: http.MethodGet, target: "http://example.com/bucket/key", expires: -1, code: "AuthorizationQueryParametersError", message: "at least 1"},
		{name: "wrong secret", method: http.MethodGet, target: "http://example.com/bucket/key", secret: "other", code: "SignatureDoesNotMatch"},
		{name: "signed header left out", method: http.MethodPut, target: "http://example.com/bucket/upload", header: putHeaders, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Meta-Owner") }, code: "SignatureDoesNotMatch"},
		{name: "parameter added", method: http.MethodGet, target: "http://example.com/bucket/key", tamper: func(r *http.Request) { r.URL.RawQuery += "&response-content-type=text%2Fhtml" }, code: "SignatureDoesNotMatch"},
		{name: "hoisted parameter changed", method: http.MethodPut, target: "http://example.com/bucket/upload", header: putHeaders, tamper: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "requester", "owner", 1)
		}, code: "SignatureDoesNotMatch"},
		{name: "unsigned x-amz header", method: http.MethodPut, target: "http://example.com/bucket/upload", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, code: "AccessDenied", message: "not signed"},
		{name: "parameter repeated", method: http.MethodGet, target: "http://example.com/bucket/key", tamper: func(r *http.Request) {
			r.URL.RawQuery += "&X-Amz-Date=20240524T120000Z"
		}, code: "AuthorizationQueryParametersError", message: "repeated"},
		{name: "signature missing", method: http.MethodGet, target: "http://example.com/bucket/key", tamper: func(r *http.Request) {
			query := r.URL.Query()
			query.Del("X-Amz-Signature")
			r.URL.RawQuery = query.Encode()
		}, code: "AuthorizationQueryParametersError", message: "X-Amz-Signature"},
		{name: "other algorithm", method: http.MethodGet, target: "http://example.com/bucket/key", tamper: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1)
		}, code: "AuthorizationQueryParametersError", message: "X-Amz-Algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expires, credentials, now := tc.expires, good, tc.now
			switch expires {
			case 0:
				expires = 900
			case -1:
				expires = 0
			}
			if tc.secret != "" {
				credentials.SecretAccessKey = tc.secret
			}
			if now.IsZero() {
				now = signTime.Add(5 * time.Minute)
			}
			target, headers := presign(t, tc.method, tc.target, tc.header, expires, credentials)
			body := ""
			if tc.method == http.MethodPut {
				body = "presigned upload"
			}
			r := presignedRequest(tc.method, target, headers, body)
			if tc.tamper != nil {
				tc.tamper(r)
			}
			verified, err := sigv4.Verify(r, keys, now)
			if tc.code != "" {
				if err == nil {
					t.Fatalf("accepted %s", target)
				}
				checkCode(t, err, tc.code, tc.message)
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, target)
			}
			if !verified.Presigned || verified.AccessKey != accessKey {
				t.Fatalf("%+v", verified)
			}
			data, err := io.ReadAll(r.Body)
			if err != nil || string(data) != body {
				t.Fatalf("body %q %v", data, err)
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	tests := []struct {
		target    string
		header    string
		anonymous bool
	}{
		{"http://example.com/bucket/key", "", true},
		{"http://example.com/bucket/key?X-Amz-Expires=10&list-type=2", "", true},
		{"http://example.com/bucket/key", "AWS4-HMAC-SHA256 Credential=x", false},
		{"http://example.com/bucket/key?X-Amz-Signature=00", "", false},
		{"http://example.com/bucket/key?X-Amz-Credential=" + url.QueryEscape("AK/20240524/us-east-1/s3/aws4_request"), "", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := sigv4.Anonymous(r); got != tc.anonymous {
			t.Errorf("%s %q: Anonymous %v", tc.target, tc.header, got)
		}
		if !tc.anonymous {
			if _, err := sigv4.Verify(r, keys, signTime); err == nil {
				t.Errorf("%s %q verified", tc.target, tc.header)
			}
		}
	}
}

// A key's new secret takes effect at once: the key derived from the old
// one (kept for the day) signs nothing after the change, and the many
// regions a key may name do not grow what is kept without end.
func TestSecretChangeAndDerivedKeys(t *testing.T) {
	request := func(credentials aws.Credentials, region string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/bucket/key", nil)
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		if err := v4.NewSigner().SignHTTP(t.Context(), credentials, r, emptySHA256, "s3", region, signTime, s3Options); err != nil {
			t.Fatal(err)
		}
		return r
	}
	old, rotated := sigv4.StaticKeys{"AKROTATE": "old-secret"}, sigv4.StaticKeys{"AKROTATE": "new-secret"}
	oldCredentials := aws.Credentials{AccessKeyID: "AKROTATE", SecretAccessKey: "old-secret"}
	newCredentials := aws.Credentials{AccessKeyID: "AKROTATE", SecretAccessKey: "new-secret"}
	if _, err := sigv4.Verify(request(oldCredentials, region), old, signTime); err != nil {
		t.Fatal(err)
	}
	_, err := sigv4.Verify(request(oldCredentials, region), rotated, signTime)
	checkCode(t, err, "SignatureDoesNotMatch", "signature")
	if _, err := sigv4.Verify(request(newCredentials, region), rotated, signTime); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := sigv4.Verify(request(newCredentials, fmt.Sprintf("region-%d", i)), rotated, signTime); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sigv4.Verify(request(newCredentials, region), rotated, signTime); err != nil {
		t.Fatal(err)
	}
	if n := sigv4.DerivedKeys(); n > 1024 {
		t.Fatalf("%d derived keys kept", n)
	}
}

// White space in a signed header value as each client signs it: botocore
// (boto3, awscli) folds a tab into a space, the Go SDK keeps it.
// The handler then acts on a header as it was signed (a copy source:
// white space the signature did not cover, a no-break space added on the
// way, is gone); metadata is kept as sent.
func TestHeaderWhiteSpaceAsClientsSignIt(t *testing.T) {
	for _, tc := range []struct{ name, header, signed, sent, acted string }{
		{"botocore folds a tab", "X-Amz-Meta-Note", "a b", "a\tb", "a\tb"},
		{"the Go SDK keeps a tab", "X-Amz-Meta-Note", "a\tb", "a\tb", "a\tb"},
		{"the Go SDK trims a no-break space", "X-Amz-Meta-Note", "x\u00a0", "x\u00a0", "x\u00a0"},
		{"a no-break space added on the way", "X-Amz-Copy-Source", "src/report.csv", "src/report.csv\u00a0", "src/report.csv"},
		{"a tab folded in a copy source", "X-Amz-Copy-Source", "src/a b", "src/a\tb", "src/a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/key", nil)
			r.Header.Set(tc.header, tc.signed)
			sign(t, r, "UNSIGNED-PAYLOAD", good, "s3")
			r.Header.Set(tc.header, tc.sent) // as it comes on the wire
			if _, err := sigv4.Verify(r, keys, signTime.Add(time.Minute)); err != nil {
				t.Fatalf("signed %q, sent %q: %v", tc.signed, tc.sent, err)
			}
			if got := r.Header.Get(tc.header); got != tc.acted {
				t.Fatalf("signed %q, sent %q: the handler gets %q, want %q", tc.signed, tc.sent, got, tc.acted)
			}
		})
	}
	// Another value is still refused.
	r := httptest.NewRequest(http.MethodPut, "http://example.com/bucket/key", nil)
	r.Header.Set("X-Amz-Meta-Note", "a b")
	sign(t, r, "UNSIGNED-PAYLOAD", good, "s3")
	r.Header.Set("X-Amz-Meta-Note", "a\tc")
	_, err := sigv4.Verify(r, keys, signTime.Add(time.Minute))
	checkCode(t, err, "SignatureDoesNotMatch", "")
}
