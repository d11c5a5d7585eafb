package membership

import (
	"errors"
	"fmt"
	"maps"
)

// MaxRevokedTokens bounds the revocation list; a revoked token leaves it
// when it expires.
const MaxRevokedTokens = 100_000

// ErrTooManyRevoked refuses a revocation past MaxRevokedTokens.
var ErrTooManyRevoked = errors.New("membership: too many revoked tokens that have not expired")

// RevokedTokens are the ids (jti) of revoked, unexpired tokens with their
// expiry (Unix seconds), versioned like the rest of the snapshot.
type RevokedTokens struct {
	Version int64            `json:"version"`
	Tokens  map[string]int64 `json:"tokens,omitempty"`
	// Keys are the token ids revoked at the cluster by its admin, not
	// pushed by the AuthN service (which drops the S3 keys made with a
	// stolen token itself), with when the last S3 key made with each
	// expires: those keys are refused too, those the service makes after
	// included, until then (long after the token itself).
	Keys map[string]int64 `json:"keys,omitempty"`
}

// Has reports whether a token id is revoked.
func (r *RevokedTokens) Has(id string) bool {
	if r == nil {
		return false
	}
	_, ok := r.Tokens[id]
	return ok
}

// TakesKeys reports whether a token id was revoked with the S3 keys made
// with it (see Keys).
func (r *RevokedTokens) TakesKeys(id string) bool {
	if r == nil {
		return false
	}
	_, ok := r.Keys[id]
	return ok
}

// clone copies r.
func (r *RevokedTokens) clone() *RevokedTokens {
	if r == nil {
		return nil
	}
	return &RevokedTokens{Version: r.Version, Tokens: maps.Clone(r.Tokens), Keys: maps.Clone(r.Keys)}
}

// RevokedToken is the token of a RevokeToken change.
type RevokedToken struct {
	ID      string `json:"id"`
	Expires int64  `json:"expires"`
	// KeysUntil, when set, takes the S3 keys made with it too, until then
	// (Unix seconds; see RevokedTokens.Keys). A change with it is of
	// LevelRevokeKeys.
	KeysUntil int64 `json:"keys_until,omitempty"`
}

// RevocationMargin is how long after its expiry (seconds) a revoked
// token stays on the list: the expiry is judged by the proposing
// gateway's clock, and a node whose clock is behind would take the token
// as valid again once it is dropped.
const RevocationMargin = 300

// applyRevoke adds a token and drops those expired, with the margin, by
// the change's time.
func applyRevoke(cur *RevokedTokens, c Change) (*RevokedTokens, error) {
	if c.Token.ID == "" || len(c.Token.ID) > 256 {
		return nil, fmt.Errorf("%w: %s needs a token id of at most 256 bytes", ErrUnknownChange, c.Kind)
	}
	if c.Token.KeysUntil > 0 && c.Level < LevelRevokeKeys {
		// Nodes before the level would apply it without the keys.
		return nil, fmt.Errorf("%w: %s with its keys needs level %d", ErrUnknownChange, c.Kind, LevelRevokeKeys)
	}
	next := &RevokedTokens{Tokens: map[string]int64{}}
	if cur != nil {
		next = cur.clone()
		if next.Tokens == nil {
			next.Tokens = map[string]int64{}
		}
	}
	expired := func(_ string, expires int64) bool { return expires+RevocationMargin < c.Created }
	maps.DeleteFunc(next.Tokens, expired)
	maps.DeleteFunc(next.Keys, expired)
	if _, ok := next.Tokens[c.Token.ID]; !ok && len(next.Tokens) >= MaxRevokedTokens {
		return nil, fmt.Errorf("%w (%d)", ErrTooManyRevoked, MaxRevokedTokens)
	}
	if _, ok := next.Keys[c.Token.ID]; !ok && c.Token.KeysUntil > 0 && len(next.Keys) >= MaxRevokedTokens {
		return nil, fmt.Errorf("%w (%d with their S3 keys)", ErrTooManyRevoked, MaxRevokedTokens)
	}
	next.Tokens[c.Token.ID] = max(next.Tokens[c.Token.ID], c.Token.Expires)
	if c.Token.KeysUntil > 0 {
		if next.Keys == nil {
			next.Keys = map[string]int64{}
		}
		next.Keys[c.Token.ID] = max(next.Keys[c.Token.ID], c.Token.KeysUntil)
	}
	next.Version++
	return next, nil
}

// MaxS3Keys bounds the S3 keys a cluster takes from its AuthN service.
const MaxS3Keys = 10_000

// S3Credential is the secret of an S3 access key and the token of the
// user it acts as.
type S3Credential struct {
	Secret string `json:"secret"`
	Token  string `json:"token"`
}

// S3Keys are the S3 access keys of the AuthN service's users, versioned.
// Gateways hold them (the Raft log); targets, which never see an S3
// request, are not sent them.
type S3Keys struct {
	Version int64                   `json:"version"`
	Keys    map[string]S3Credential `json:"keys,omitempty"`
}

// Lookup returns an access key's credential.
func (k *S3Keys) Lookup(access string) (S3Credential, bool) {
	if k == nil {
		return S3Credential{}, false
	}
	c, ok := k.Keys[access]
	return c, ok
}

// applyS3Keys replaces the set.
func applyS3Keys(cur *S3Keys, c Change) (*S3Keys, error) {
	if len(c.S3Keys) > MaxS3Keys {
		return nil, fmt.Errorf("%w: %d S3 keys, more than %d", ErrUnknownChange, len(c.S3Keys), MaxS3Keys)
	}
	next := &S3Keys{Keys: maps.Clone(c.S3Keys)}
	if cur != nil {
		next.Version = cur.Version
	}
	next.Version++
	return next, nil
}
