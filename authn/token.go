package authn

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of token verification: each is answered 401.
var (
	ErrNoToken   = errors.New("authn: no token (send Authorization: Bearer TOKEN; log in with `ais auth login`)")
	ErrBadToken  = errors.New("authn: invalid token")
	ErrExpired   = errors.New("authn: token expired")
	ErrRevoked   = errors.New("authn: token revoked")
	ErrAudience  = errors.New("authn: token is for another cluster")
	ErrForbidden = errors.New("authn: permission denied")
)

// MinSecret is the shortest HS256 secret accepted, in bytes.
const MinSecret = 32

// maxTokenSize bounds a token before it is parsed.
const maxTokenSize = 16 << 10

// Issuer names AIS-Go's AuthN in the tokens it signs.
const Issuer = "aisgo-authn"

// Claims are a token's claims: who (sub), until when (exp), its id (jti,
// for revocation), the clusters it is for (aud; none means every cluster
// that trusts the key) and its grants.
type Claims struct {
	jwt.RegisteredClaims
	Grants
	// MadeWith, in the token of an S3 key, is the id of the login token
	// the key was made with: a cluster that revoked that login with its
	// keys refuses the key (VerifierOptions.KeysRevoked).
	MadeWith string `json:"made_with,omitempty"`
}

// Keys sign and verify tokens: HS256 with a shared secret, or RS256 with
// a key pair (a node that only verifies holds the public key).
type Keys struct {
	method jwt.SigningMethod
	sign   any
	verify any
}

// NewSecretKeys returns HS256 keys.
func NewSecretKeys(secret []byte) (*Keys, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("authn: an HS256 secret is at least %d bytes, this one %d", MinSecret, len(secret))
	}
	// A PEM key taken for a secret would let anyone who has the (public)
	// key sign tokens.
	if bytes.Contains(secret, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("authn: the HS256 secret is a PEM key: give an RSA key as a key file, not as the secret")
	}
	s := slices.Clone(secret)
	return &Keys{method: jwt.SigningMethodHS256, sign: s, verify: s}, nil
}

// NewSecret returns a random HS256 secret, as text.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseRSAKeys reads a PEM private key (PKCS#1 or PKCS#8: signs and
// verifies) or public key (PKIX or PKCS#1: verifies only).
func ParseRSAKeys(data []byte) (*Keys, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("authn: no PEM block in the RSA key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY", "PRIVATE KEY":
		key, err := jwt.ParseRSAPrivateKeyFromPEM(data)
		if err != nil {
			return nil, fmt.Errorf("authn: RSA private key: %w", err)
		}
		return &Keys{method: jwt.SigningMethodRS256, sign: key, verify: &key.PublicKey}, nil
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		key, err := jwt.ParseRSAPublicKeyFromPEM(data)
		if err != nil {
			return nil, fmt.Errorf("authn: RSA public key: %w", err)
		}
		return &Keys{method: jwt.SigningMethodRS256, verify: key}, nil
	}
	return nil, fmt.Errorf("authn: PEM block %q is not an RSA key", block.Type)
}

// keyFileNamed reports a path that names a file: it is there, or its
// directory is.
func keyFileNamed(path string) bool {
	if _, err := os.Lstat(path); err == nil {
		return true
	}
	// Not the root, nor the working directory: a key may begin with a
	// slash.
	dir := filepath.Dir(path)
	if dir == "." || dir == string(filepath.Separator) {
		return false
	}
	_, err := os.Stat(dir)
	return err == nil
}

// LoadKeys reads keys from a file: a PEM RSA key, or else an HS256 secret
// (its text, trimmed).
func LoadKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// A key given where its file's name goes is not echoed into
		// logs (a base64 key may hold slashes): the name is shown only
		// of a file, or a directory of it, that is there.
		var pathErr *fs.PathError
		if !keyFileNamed(path) && errors.As(err, &pathErr) {
			return nil, fmt.Errorf("authn key: the key file (auth_key, -auth-key: a file's name, not the key) cannot be read: %w", pathErr.Err)
		}
		return nil, fmt.Errorf("authn key: %w", err)
	}
	if strings.Contains(string(data), "-----BEGIN") {
		keys, err := ParseRSAKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return keys, nil
	}
	keys, err := NewSecretKeys([]byte(strings.TrimSpace(string(data))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// PublicPEM returns the RSA public key in PEM, for the nodes; nil for
// HS256 keys.
func (k *Keys) PublicPEM() []byte {
	pub, ok := k.verify.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Algorithm names the signing algorithm.
func (k *Keys) Algorithm() string { return k.method.Alg() }

// Fingerprint names the keys tokens are checked with, without telling
// them: the same on every node that checks the same tokens (an HS256
// secret's, an RSA public key's).
func (k *Keys) Fingerprint() string {
	var material []byte
	switch v := k.verify.(type) {
	case []byte:
		material = v
	case *rsa.PublicKey:
		material, _ = x509.MarshalPKIXPublicKey(v)
	}
	sum := sha256.Sum256(append([]byte("aisgo token keys\x00"), material...))
	return k.Algorithm() + ":" + hex.EncodeToString(sum[:8])
}

// Sign returns the signed token of the claims; it needs a private key.
func (k *Keys) Sign(c *Claims) (string, error) {
	if k.sign == nil {
		return "", errors.New("authn: these keys only verify (no private key)")
	}
	return jwt.NewWithClaims(k.method, c).SignedString(k.sign)
}

// NewTokenID returns a random token id (jti).
func NewTokenID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Verifier checks tokens on a node: signature, expiry, audience and
// revocation. Parsed tokens are cached; expiry and revocation are checked
// on every use.
type Verifier struct {
	keys   *Keys
	parser *jwt.Parser
	// cluster returns this cluster's id (the map's uuid), matched against
	// a token's audience.
	cluster func() string
	// revoked reports whether a token id was revoked.
	revoked func(id string) bool
	// keysRevoked reports whether a token id was revoked with the S3
	// keys made with it.
	keysRevoked func(id string) bool
	now         func() time.Time

	mu    sync.RWMutex
	cache map[string]*Claims
}

// maxCached bounds the verifier's cache; it is emptied when full.
const maxCached = 8192

// VerifierOptions are a Verifier's collaborators; nil ones mean no
// audience check, nothing revoked and the system clock.
type VerifierOptions struct {
	Cluster func() string
	Revoked func(id string) bool
	// KeysRevoked reports whether a login token id was revoked with the
	// S3 keys made with it: their tokens are refused too.
	KeysRevoked func(id string) bool
	Now         func() time.Time
}

// clockLeeway is how far apart the clocks of a token's issuer and its
// verifier may be, on every check of its expiry (the first, parsing it,
// and those of the cached claims after).
const clockLeeway = 5 * time.Second

// NewVerifier returns a verifier of tokens signed by keys.
func NewVerifier(keys *Keys, opts VerifierOptions) *Verifier {
	v := &Verifier{keys: keys, cluster: opts.Cluster, revoked: opts.Revoked, keysRevoked: opts.KeysRevoked, now: opts.Now, cache: map[string]*Claims{}}
	if v.now == nil {
		v.now = time.Now
	}
	// Not the issue time: a service whose clock runs ahead issues tokens
	// "from the future", and its push tokens would fail on
	// every gateway (revocations never land). Expiry is what holds.
	v.parser = jwt.NewParser(jwt.WithValidMethods([]string{keys.method.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }), jwt.WithLeeway(clockLeeway))
	return v
}

// Verify returns the claims of a valid token, or an error that wraps one
// of ErrBadToken, ErrExpired, ErrRevoked and ErrAudience.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	v.mu.RLock()
	c := v.cache[token]
	v.mu.RUnlock()
	if c == nil {
		var err error
		if c, err = v.parse(token); err != nil {
			return nil, err
		}
		v.mu.Lock()
		if len(v.cache) >= maxCached {
			clear(v.cache)
		}
		v.cache[token] = c
		v.mu.Unlock()
	}
	if !v.now().Before(c.ExpiresAt.Time.Add(clockLeeway)) {
		return nil, fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.Time.UTC().Format(time.RFC3339))
	}
	if v.revoked != nil && v.revoked(c.ID) {
		return nil, fmt.Errorf("%w: token %s of %q", ErrRevoked, c.ID, c.Subject)
	}
	if c.MadeWith != "" && v.keysRevoked != nil && v.keysRevoked(c.MadeWith) {
		return nil, fmt.Errorf("%w: an S3 key of %q made with token %s, revoked with its keys", ErrRevoked, c.Subject, c.MadeWith)
	}
	if len(c.Audience) > 0 && v.cluster != nil {
		if id := v.cluster(); !slices.Contains(c.Audience, id) {
			return nil, fmt.Errorf("%w: it is for %s, this cluster is %q", ErrAudience, strings.Join(c.Audience, ", "), id)
		}
	}
	return c, nil
}

// parse checks a token's signature and claims.
func (v *Verifier) parse(token string) (*Claims, error) {
	if len(token) > maxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadToken, len(token), maxTokenSize)
	}
	c := new(Claims)
	_, err := v.parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return v.keys.verify, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %w", ErrExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrBadToken, err)
	case c.ID == "" || c.Subject == "":
		return nil, fmt.Errorf("%w: no jti or sub claim", ErrBadToken)
	}
	return c, nil
}

// Parse checks a token's signature only (not its expiry), for revoking it.
func (k *Keys) Parse(token string) (*Claims, error) {
	if len(token) > maxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadToken, len(token), maxTokenSize)
	}
	c := new(Claims)
	parser := jwt.NewParser(jwt.WithValidMethods([]string{k.method.Alg()}), jwt.WithoutClaimsValidation())
	if _, err := parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return k.verify, nil }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if c.ID == "" || c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: no jti or exp claim", ErrBadToken)
	}
	return c, nil
}
