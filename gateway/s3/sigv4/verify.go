package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	algorithmECDSA = "AWS4-ECDSA-P256-SHA256" // SigV4A
	service        = "s3"
	terminator     = "aws4_request"
	timeFormat     = "20060102T150405Z"
	dateFormat     = "20060102"

	// maxSkew is how far a request's time may be from the server's.
	maxSkew = 15 * time.Minute
	// maxExpires is the longest validity of a presigned URL: a week.
	maxExpires = 604800
	// maxSignedHeaders bounds the work one Authorization header can ask for.
	maxSignedHeaders = 256
)

// Keys looks up the secret key of an access key.
type Keys interface {
	Secret(accessKey string) (secret string, ok bool)
}

// StaticKeys is a fixed set of access keys, each mapped to its secret.
type StaticKeys map[string]string

// Secret implements Keys.
func (k StaticKeys) Secret(accessKey string) (string, bool) {
	secret, ok := k[accessKey]
	return secret, ok
}

// Verified describes a request whose signature Verify accepted.
type Verified struct {
	AccessKey string
	// Region is the one the client signed for; Verify accepts any, so a
	// server that has one checks it here.
	Region    string
	Presigned bool
}

// credential is the Credential field: the access key and the scope.
type credential struct {
	accessKey string
	date      string // yyyymmdd
	region    string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + service + "/" + terminator
}

// authorization is what the client claims, from the header or the query.
type authorization struct {
	presigned     bool
	credential    credential
	signedHeaders []string
	signature     []byte
	timestamp     string // the time as signed, in timeFormat
	time          time.Time
	expires       time.Duration // presigned only
}

// Anonymous reports whether r carries no signature at all: no
// Authorization header and no query-string authentication.
func Anonymous(r *http.Request) bool {
	if _, ok := r.Header["Authorization"]; ok {
		return false
	}
	query := r.URL.Query()
	return !query.Has("X-Amz-Signature") && !query.Has("X-Amz-Credential") && !query.Has("X-Amz-Algorithm")
}

// Verify checks the AWS Signature Version 4 of r, signed either in the
// Authorization header or in the query (a presigned URL), against the
// secret keys knows and the time now. On success it replaces r.Body with
// the decoded payload, checked as it is read: a payload that does not
// match what was signed or declared makes Read fail, at the end of the
// body or of the offending chunk, with an *Error. So a handler must read
// the body to its end without error before acting on it. r.ContentLength
// becomes the decoded length, or -1 when unknown.
//
// Refusals are *Error values with S3's codes.
func Verify(r *http.Request, keys Keys, now time.Time) (*Verified, error) {
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	_, inHeader := r.Header["Authorization"]
	inQuery := query.has("X-Amz-Signature") || query.has("X-Amz-Credential") || query.has("X-Amz-Algorithm")
	var auth *authorization
	switch {
	case inHeader && inQuery:
		return nil, newError("InvalidArgument", "Only one auth mechanism allowed: the Authorization header or the X-Amz-Algorithm, X-Amz-Credential and X-Amz-Signature query parameters")
	case inHeader:
		auth, err = parseHeader(r)
	case inQuery:
		auth, err = parsePresigned(query)
	default:
		return nil, newError("AccessDenied", "Request is not signed: it has no Authorization header and no X-Amz-Signature query parameter")
	}
	if err != nil {
		return nil, err
	}
	if err := auth.checkTime(now); err != nil {
		return nil, err
	}
	secret, ok := keys.Secret(auth.credential.accessKey)
	if !ok {
		return nil, newError("InvalidAccessKeyId", "The AWS Access Key Id %s does not exist in our records", quote(auth.credential.accessKey))
	}
	if err := checkUnsignedHeaders(r, auth.signedHeaders); err != nil {
		return nil, err
	}
	signedPayload, bodyPayload, err := payloads(r, auth, query)
	if err != nil {
		return nil, err
	}
	key := signingKey(secret, auth.credential)
	signs := func(fold func(*strings.Builder, string)) (bool, error) {
		canonical, err := canonicalRequest(r, query, auth, signedPayload, fold)
		if err != nil {
			return false, err
		}
		toSign := algorithm + "\n" + auth.timestamp + "\n" + auth.credential.scope() + "\n" + hashHex([]byte(canonical))
		return hmac.Equal(hmacSHA256(key, toSign), auth.signature), nil
	}
	fold := writeTrimmed
	ok, err = signs(fold)
	if err == nil && !ok && foldsOtherwise(r, auth.signedHeaders) {
		// botocore (boto3, awscli) folds every run of white space, tabs
		// too, into one space; the Go and Java SDKs spaces alone.
		fold = writeFolded
		ok, err = signs(fold)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, newError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	actOnSigned(r, auth.signedHeaders, fold)
	// Signed chunks chain from the request's signature, the seed.
	seed := &chain{key: key, timestamp: auth.timestamp, scope: auth.credential.scope(), previous: hex.EncodeToString(auth.signature)}
	body, length, err := decode(r, bodyPayload, seed)
	if err != nil {
		return nil, err
	}
	r.Body, r.ContentLength = body, length
	return &Verified{AccessKey: auth.credential.accessKey, Region: auth.credential.region, Presigned: auth.presigned}, nil
}

// malformed is the error for a badly formed signature, named after where
// the client put it.
func malformed(presigned bool, format string, args ...any) *Error {
	if presigned {
		return newError("AuthorizationQueryParametersError", format, args...)
	}
	return newError("AuthorizationHeaderMalformed", format, args...)
}

// parseHeader reads
// "AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request, SignedHeaders=a;b, Signature=hex"
// and the request time from X-Amz-Date, or Date.
func parseHeader(r *http.Request) (*authorization, error) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return nil, malformed(false, "The request has %d Authorization headers; it must have one", len(values))
	}
	value := strings.TrimSpace(values[0])
	scheme, fields, _ := strings.Cut(value, " ")
	switch scheme {
	case algorithm:
	case algorithmECDSA:
		return nil, newError("NotImplemented", "Signature Version 4A (%s) is not supported: sign with %s", algorithmECDSA, algorithm)
	case "AWS":
		return nil, newError("InvalidRequest", "Signature Version 2 is not supported: sign with %s", algorithm)
	default:
		return nil, malformed(false, "The authorization header must start with %s, not %s", algorithm, quote(scheme))
	}
	var credentialText, signedHeaders, signature string
	seen := map[string]bool{}
	for field := range strings.SplitSeq(fields, ",") {
		name, content, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || seen[name] {
			return nil, malformed(false, "The authorization header has a malformed or repeated component %s", quote(field))
		}
		seen[name] = true
		switch name {
		case "Credential":
			credentialText = content
		case "SignedHeaders":
			signedHeaders = content
		case "Signature":
			signature = content
		default:
			return nil, malformed(false, "The authorization header has an unknown component %s", quote(name))
		}
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[name] {
			return nil, malformed(false, "The authorization header lacks %s", name)
		}
	}
	auth := &authorization{}
	var err error
	if auth.timestamp, auth.time, err = headerTime(r); err != nil {
		return nil, err
	}
	if err := auth.parseFields(credentialText, signedHeaders, signature); err != nil {
		return nil, err
	}
	return auth, nil
}

// headerTime is the time of a request signed in its header: X-Amz-Date,
// or else Date, which the string to sign then carries in timeFormat.
func headerTime(r *http.Request) (string, time.Time, error) {
	if value := r.Header.Get("X-Amz-Date"); value != "" {
		when, err := time.Parse(timeFormat, value)
		if err != nil {
			return "", time.Time{}, newError("AccessDenied", "X-Amz-Date %s is not a time in the format %s", quote(value), timeFormat)
		}
		return value, when, nil
	}
	if value := r.Header.Get("Date"); value != "" {
		when, err := http.ParseTime(value)
		if err != nil {
			return "", time.Time{}, newError("AccessDenied", "Date %s is not an HTTP date", quote(value))
		}
		when = when.UTC()
		return when.Format(timeFormat), when, nil
	}
	return "", time.Time{}, newError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func parsePresigned(query query) (*authorization, error) {
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}
	values := make(map[string]string, len(names))
	for _, name := range names {
		value, count := query.get(name)
		switch {
		case count == 0:
			return nil, malformed(true, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; %s is missing", name)
		case count > 1:
			return nil, malformed(true, "The query parameter %s is repeated", name)
		}
		values[name] = value
	}
	switch values["X-Amz-Algorithm"] {
	case algorithm:
	case algorithmECDSA:
		return nil, newError("NotImplemented", "Signature Version 4A (%s) is not supported: sign with %s", algorithmECDSA, algorithm)
	default:
		return nil, malformed(true, "X-Amz-Algorithm only supports %s, not %s", algorithm, quote(values["X-Amz-Algorithm"]))
	}
	auth := &authorization{presigned: true, timestamp: values["X-Amz-Date"]}
	var err error
	if auth.time, err = time.Parse(timeFormat, auth.timestamp); err != nil {
		return nil, malformed(true, "X-Amz-Date %s is not a time in the format %s", quote(auth.timestamp), timeFormat)
	}
	expires := values["X-Amz-Expires"]
	seconds, err := strconv.ParseInt(expires, 10, 64)
	switch {
	case err != nil && len(expires) > 0 && strings.Trim(expires, "0123456789") == "":
		return nil, malformed(true, "X-Amz-Expires must be at most %d, not %s", maxExpires, quote(expires))
	case err != nil:
		return nil, malformed(true, "X-Amz-Expires should be a number of seconds, not %s", quote(expires))
	case seconds < 1:
		return nil, malformed(true, "X-Amz-Expires must be at least 1, not %d", seconds)
	case seconds > maxExpires:
		return nil, malformed(true, "X-Amz-Expires must be at most %d, not %d", maxExpires, seconds)
	}
	auth.expires = time.Duration(seconds) * time.Second
	if err := auth.parseFields(values["X-Amz-Credential"], values["X-Amz-SignedHeaders"], values["X-Amz-Signature"]); err != nil {
		return nil, err
	}
	return auth, nil
}

// parseFields reads the three parts common to both forms; the timestamp
// is already known, for the credential's date must be its day.
func (a *authorization) parseFields(credentialText, signedHeaders, signature string) error {
	parts := strings.Split(credentialText, "/")
	if len(parts) < 5 {
		return malformed(a.presigned, "The Credential %s is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"", quote(credentialText))
	}
	// The scope is the last four parts: an access key may hold a slash.
	scope := parts[len(parts)-4:]
	a.credential = credential{accessKey: strings.Join(parts[:len(parts)-4], "/"), date: scope[0], region: scope[1]}
	switch {
	case a.credential.accessKey == "":
		return malformed(a.presigned, "The Credential %s has no access key", quote(credentialText))
	case a.credential.date != a.timestamp[:len(dateFormat)]:
		return malformed(a.presigned, "Invalid credential date %s: it is not the day of the request time %s", quote(a.credential.date), a.timestamp)
	case a.credential.region == "":
		return malformed(a.presigned, "The Credential %s has no region", quote(credentialText))
	case !validRegion(a.credential.region):
		// A region is a short name (us-east-1): a megabyte of one would
		// be kept with each signing key derived from it.
		return malformed(a.presigned, "The Credential's region %.64s is not a region name (at most 64 letters, digits, '-', '_' and '.')", quote(a.credential.region))
	case scope[2] != service:
		return malformed(a.presigned, "The Credential is for the service %s; this endpoint is %s", quote(scope[2]), service)
	case scope[3] != terminator:
		return malformed(a.presigned, "The Credential must end in %s, not %s", terminator, quote(scope[3]))
	}

	names := strings.Split(signedHeaders, ";")
	if len(names) > maxSignedHeaders {
		return malformed(a.presigned, "SignedHeaders names %d headers; at most %d are allowed", len(names), maxSignedHeaders)
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if name == "" || name != strings.ToLower(name) || seen[name] {
			return malformed(a.presigned, "SignedHeaders %s must be distinct lowercase header names separated by ';'", quote(signedHeaders))
		}
		seen[name] = true
	}
	if !seen["host"] {
		return malformed(a.presigned, "SignedHeaders %s must include host", quote(signedHeaders))
	}
	a.signedHeaders = names

	if !isSignature(signature) {
		return malformed(a.presigned, "The Signature %s is not 64 lowercase hex digits", quote(signature))
	}
	a.signature, _ = hex.DecodeString(signature)
	return nil
}

// checkTime refuses a request signed too far from now, or a presigned URL
// used outside its validity.
func (a *authorization) checkTime(now time.Time) error {
	if a.presigned {
		if now.After(a.time.Add(a.expires)) {
			return newError("AccessDenied", "Request has expired: it was signed at %s for %d seconds", a.timestamp, a.expires/time.Second)
		}
		if a.time.Sub(now) > maxSkew {
			return newError("AccessDenied", "Request is not valid yet: it was signed for %s, and the server's time is %s", a.timestamp, now.UTC().Format(timeFormat))
		}
		return nil
	}
	if skew := now.Sub(a.time); skew > maxSkew || skew < -maxSkew {
		return newError("RequestTimeTooSkewed", "The difference between the request time %s and the server's time %s is larger than %v", a.timestamp, now.UTC().Format(timeFormat), maxSkew)
	}
	return nil
}

// checkUnsignedHeaders refuses x-amz-* headers outside the signature, as
// S3 does: they change what a request does (an ACL, a copy source, the
// payload's framing), so a third party must not be able to add them.
func checkUnsignedHeaders(r *http.Request, signed []string) error {
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !slices.Contains(signed, lower) {
			return newError("AccessDenied", "There were headers present in the request which were not signed: %s", quote(lower))
		}
	}
	return nil
}

// payloads returns the payload hash that the signature covers and the one
// that says how to read the body. They differ for a presigned URL, whose
// signature covers UNSIGNED-PAYLOAD unless the query says otherwise,
// while a signed x-amz-content-sha256 header may still describe the body.
func payloads(r *http.Request, auth *authorization, query query) (signed, body string, err error) {
	header := r.Header.Get("X-Amz-Content-Sha256")
	if auth.presigned {
		signed = unsignedPayload
		if value, count := query.get("X-Amz-Content-Sha256"); count > 0 {
			signed = value
		}
		body = signed
		if header != "" {
			body = header
		}
	} else {
		if header == "" {
			return "", "", newError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
		}
		signed, body = header, header
	}
	if err := checkPayload(signed); err != nil {
		return "", "", err
	}
	if err := checkPayload(body); err != nil {
		return "", "", err
	}
	return signed, body, nil
}

// canonicalRequest is the request as SigV4 for S3 signs it.
func canonicalRequest(r *http.Request, query query, auth *authorization, payload string, fold func(*strings.Builder, string)) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// S3 signs the path as sent: neither normalized nor escaped again.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(query.canonical(auth.presigned))
	b.WriteByte('\n')
	for _, name := range auth.signedHeaders {
		values, ok := headerValues(r, name)
		if !ok {
			return "", newError("SignatureDoesNotMatch", "SignedHeaders names %s, which the request does not carry", quote(name))
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, value := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			fold(&b, value)
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(auth.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String(), nil
}

// actOnSigned sets each signed header the server acts on to its value
// as it was signed (trimmed, folded): not on white space the signature
// did not cover (a no-break space added after a copy source would name
// another object). What an object keeps as sent (its metadata, its
// Content-* headers) stays as sent, as S3 keeps it.
func actOnSigned(r *http.Request, signed []string, fold func(*strings.Builder, string)) {
	for _, name := range signed {
		switch {
		case name == "host", name == "content-length", name == "transfer-encoding":
			continue // not in the header map as sent
		case strings.HasPrefix(name, "x-amz-meta-"), strings.HasPrefix(name, "content-") && name != "content-md5",
			name == "cache-control", name == "expires":
			continue
		}
		key := http.CanonicalHeaderKey(name)
		values := r.Header[key]
		for i, value := range values {
			var b strings.Builder
			fold(&b, value)
			if b.String() != value {
				values[i] = b.String()
			}
		}
	}
}

// headerValues finds a signed header, including those net/http moves out
// of the header map.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}, true
		}
		return []string{r.URL.Host}, r.URL.Host != ""
	case "content-length":
		if values := r.Header.Values(name); len(values) > 0 {
			return values, true
		}
		// A request built in-process has the length only here.
		return []string{strconv.FormatInt(r.ContentLength, 10)}, r.ContentLength >= 0
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	values := r.Header.Values(name)
	return values, len(values) > 0
}

// writeTrimmed writes a header value as AWS's Go SDK signs it: trimmed,
// with runs of spaces inside collapsed to one.
func writeTrimmed(b *strings.Builder, value string) {
	value = strings.TrimSpace(value)
	for i := 0; i < len(value); i++ {
		if value[i] == ' ' && i > 0 && value[i-1] == ' ' {
			continue
		}
		b.WriteByte(value[i])
	}
}

// writeFolded writes a header value as botocore signs it: every run of
// white space one space, none at the ends.
func writeFolded(b *strings.Builder, value string) {
	b.WriteString(strings.Join(strings.Fields(value), " "))
}

// foldsOtherwise reports a signed header whose value writeFolded writes
// otherwise than writeTrimmed: white space other than spaces in it.
func foldsOtherwise(r *http.Request, signed []string) bool {
	for _, name := range signed {
		values, _ := headerValues(r, name)
		for _, v := range values {
			if strings.ContainsFunc(v, func(c rune) bool { return c != ' ' && unicode.IsSpace(c) }) {
				return true
			}
		}
	}
	return false
}

// param is one decoded query parameter.
type param struct{ key, value string }

type query []param

// parseQuery decodes a raw query in order, keeping repeats and keys
// without '=', and reading '+' as a space as S3 does.
func parseQuery(raw string) (query, error) {
	var params query
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err == nil {
			var value string
			if value, err = url.QueryUnescape(rawValue); err == nil {
				params = append(params, param{key, value})
				continue
			}
		}
		return nil, newError("InvalidArgument", "The query parameter %s has an invalid percent-encoding", quote(pair))
	}
	return params, nil
}

func (q query) has(key string) bool {
	_, count := q.get(key)
	return count > 0
}

// get returns the first value of key and how many times it appears.
func (q query) get(key string) (value string, count int) {
	for _, p := range q {
		if p.key == key {
			if count == 0 {
				value = p.value
			}
			count++
		}
	}
	return value, count
}

// canonical encodes every parameter, but a presigned URL's signature,
// then sorts by key and value: SigV4 sorts after encoding.
func (q query) canonical(presigned bool) string {
	encoded := make([]param, 0, len(q))
	for _, p := range q {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		encoded = append(encoded, param{uriEncode(p.key), uriEncode(p.value)})
	}
	slices.SortFunc(encoded, func(a, b param) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range encoded {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// uriEncode percent-encodes every byte but the unreserved A-Z a-z 0-9
// - _ . ~, with uppercase hex, as SigV4 requires.
func uriEncode(s string) string {
	const upperHex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// signingKey derives the key of one day, region and service from the
// secret, once: the same key signs every request of the day, and
// deriving it is four HMACs. The key returned is shared: not to be
// changed.
func signingKey(secret string, c credential) []byte {
	// Cloned: the fields are slices of the request's header, which the
	// cache would keep whole.
	id := signingKeyID{secret: secret, date: strings.Clone(c.date), region: strings.Clone(c.region)}
	signingKeys.Lock()
	key, ok := signingKeys.keys[id]
	signingKeys.Unlock()
	if ok {
		return key
	}
	key = hmacSHA256([]byte("AWS4"+secret), c.date)
	key = hmacSHA256(key, c.region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, terminator)
	signingKeys.Lock()
	if len(signingKeys.keys) >= maxSigningKeys {
		clear(signingKeys.keys) // days and regions gone by, or many keys
	}
	signingKeys.keys[id] = key
	signingKeys.Unlock()
	return key
}

// validRegion reports a region name: 1 to 64 letters, digits, '-', '_'
// and '.' (AWS's are such, and so are those of other S3 servers).
func validRegion(region string) bool {
	if len(region) == 0 || len(region) > 64 {
		return false
	}
	for _, c := range region {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// signingKeys are the keys derived lately. Only a request whose access
// key is known derives one.
var signingKeys = struct {
	sync.Mutex
	keys map[signingKeyID][]byte
}{keys: map[signingKeyID][]byte{}}

// signingKeyID is what a signing key is derived from.
type signingKeyID struct{ secret, date, region string }

// maxSigningKeys bounds the keys kept.
const maxSigningKeys = 1024

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

func hashHex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
