package authn

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/internal/pathsafe"
	"github.com/aisgo/aisgo/internal/redact"
)

// Errors of the service's requests besides the token's.
var (
	ErrNotFound   = errors.New("authn: not found")
	ErrExists     = errors.New("authn: already exists")
	ErrBadRequest = errors.New("authn: bad request")
	ErrLogin      = errors.New("authn: wrong user name or password")
	// ErrTooManyTokens refuses a login past a user's tokens alive.
	ErrTooManyTokens = errors.New("authn: too many tokens alive")
	// ErrChanged refuses a login whose user changed while its password
	// was checked: no wrong guess, to try again.
	ErrChanged = errors.New("authn: changed meanwhile")
)

// User is an account: its password (kept as a PBKDF2 hash, never
// returned), roles, own grants, and the clusters it may use (none: all).
type User struct {
	ID       string          `json:"id"`
	Password string          `json:"password,omitempty"`
	Roles    []string        `json:"roles,omitempty"`
	Perm     Perm            `json:"perm,omitzero"`
	Buckets  map[string]Perm `json:"buckets,omitempty"`
	Clusters []string        `json:"clusters,omitempty"`
}

// Cluster is a cluster registered with the service: revocations are
// pushed to its gateways.
type Cluster struct {
	ID    string   `json:"id,omitempty"`
	Alias string   `json:"alias,omitempty"`
	URLs  []string `json:"urls"`
}

// S3Key is an S3 access key of a user: S3 requests signed with it act as
// the user, through Token (the user's grants when the key was made).
type S3Key struct {
	AccessKey string `json:"access_key"`
	Secret    string `json:"secret_key"`
	User      string `json:"user"`
	Token     string `json:"token"`
	// Clusters narrows the user's clusters for this key (made with a
	// token for some clusters); empty: the user's.
	Clusters []string `json:"clusters,omitempty"`
	// Cluster is the one cluster the key works on: its secret, which a
	// cluster keeps to check signatures, must not let one cluster's
	// operators act as the user on another. Empty until the first push
	// of a key made before any cluster was registered.
	Cluster string `json:"cluster,omitempty"`
	// MadeWith is the id of the login token the key was made with: a
	// revocation of that token (stolen) takes the key too.
	MadeWith string `json:"made_with,omitempty"`
	// MadeBy is the user whose login made the key (an admin's, for
	// another user): a new password of that user takes the key too.
	MadeBy string `json:"made_by,omitempty"`
	// ClusterTokens are the key's tokens for one cluster each, pushed in
	// place of Token when Token may act on every cluster: a cluster's
	// state then holds no token another cluster takes.
	ClusterTokens map[string]string `json:"cluster_tokens,omitempty"`
}

// S3KeysMsg is the set of S3 keys pushed to a cluster (it replaces the
// cluster's set).
type S3KeysMsg struct {
	Keys []S3Key `json:"keys"`
}

// ClusterS3KeysPath is where a cluster's gateways take the S3 keys.
const ClusterS3KeysPath = "/v1/s3keys"

// S3KeyLife is the lifetime of an S3 key's tokens, from the key's making
// (issued again with a user's new grants, they keep its end): keys are
// deleted (which revokes them) rather than left to expire. A cluster
// that revokes a login with its keys keeps the record that long.
const S3KeyLife = 365 * 24 * time.Hour

// s3KeyTTL is S3KeyLife, for a key made now.
const s3KeyTTL = S3KeyLife

// ServiceSubject is the subject of the tokens the service pushes with.
const ServiceSubject = "authn"

// maxS3Keys bounds the keys of the service, and maxUserS3Keys a user's:
// one user cannot take them all.
const (
	maxS3Keys     = 10_000
	maxUserS3Keys = 16
)

// maxS3KeysPush bounds the bytes of the keys pushed to a cluster, below
// what a gateway takes in one body (8 MiB): past it, no push would land.
const maxS3KeysPush = 6 << 20

// pushSize is about what key k takes in a push (its JSON).
func pushSize(k *S3Key) int {
	return len(k.AccessKey) + len(k.Secret) + len(k.User) + len(k.Token) + 128
}

// revokedToken is kept until it expires, to be pushed to clusters.
type revokedToken struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
	// Audience are the clusters the token was for (none: any).
	Audience []string `json:"audience,omitempty"`
	// LoggedOut names the user whose own logout revoked it: until it
	// expires it counts among the user's tokens (maxIssued).
	LoggedOut string `json:"logged_out,omitempty"`
	// KeyOf names the user whose S3 key it was: until it expires it
	// counts among the user's keys (a year's token revoked with each key
	// deleted would let one user fill the clusters' lists).
	KeyOf string `json:"key_of,omitempty"`
	// Unpushed marks the own token of an S3 key for every cluster, which
	// went to none (each got a token of its own): its revocation is kept
	// here, for the bound of KeyOf, and takes no place on any cluster's
	// list (two entries for each key deleted filled them twice as fast).
	Unpushed bool `json:"unpushed,omitempty"`
}

// state is what the service keeps on disk.
type state struct {
	Users    map[string]*User        `json:"users"`
	Roles    map[string]*Role        `json:"roles"`
	Clusters map[string]*Cluster     `json:"clusters"`
	Revoked  map[string]revokedToken `json:"revoked"`
	S3Keys   map[string]*S3Key       `json:"s3_keys,omitempty"`
	// Issued are the live login tokens of each user: revoked when the
	// user is deleted or its grants or password change.
	Issued map[string][]revokedToken `json:"issued,omitempty"`
}

// maxIssued bounds a user's tokens alive, logged in or logged out (a
// logout's revocation stays on every cluster's list, capped for all, until
// the token expires): a login past it is refused. Revoking the oldest
// instead let one user fill the clusters' lists with logins alone, and
// then no revocation, an admin's included, was taken.
const maxIssued = 1000

// MaxLiveTokens bounds the tokens of all users together that a cluster's
// revocation list may have to hold (live logins, logged-out and deleted
// keys' tokens revoked until they expire, S3 keys): a login or a key past
// it is refused, as per user past maxIssued. Many users each within their
// bound filled the clusters' lists (membership.MaxRevokedTokens, 100,000)
// and no revocation was taken after; a tenth of them is left for the
// revocations a cluster's admin makes there. A variable for tests.
var MaxLiveTokens = 90_000

// liveTokens counts what MaxLiveTokens bounds, on each cluster's list: a
// token or key for some clusters takes a place on theirs only (a key
// deleted revokes one token on each of its clusters), registered or not
// yet (pushed once they are); one for none, on every list (everyone).
func (s *Service) liveTokens(now int64) (everyone int, byCluster map[string]int) {
	byCluster = map[string]int{}
	add := func(audience []string) {
		if len(audience) == 0 {
			everyone++
		}
		for _, id := range audience {
			byCluster[id]++
		}
	}
	for _, k := range s.st.S3Keys {
		clusters := k.Clusters
		if u := s.st.Users[k.User]; len(clusters) == 0 && u != nil {
			clusters = u.Clusters // (none: every cluster)
		}
		add(clusters)
	}
	for _, issued := range s.st.Issued {
		for _, t := range issued {
			if t.Expires >= now {
				add(t.Audience)
			}
		}
	}
	for _, r := range s.st.Revoked {
		if r.Expires >= now && !r.Unpushed {
			add(r.Audience)
		}
	}
	return everyone, byCluster
}

// AdminReserve is how far past MaxLiveTokens an admin may still log in
// (to delete the users and keys that fill the lists), under what a
// cluster's list holds.
const AdminReserve = 5_000

// checkLiveTokens refuses one more token for audience (none: every
// cluster) past bound on a cluster's list.
func (s *Service) checkLiveTokens(now int64, audience []string, bound int) error {
	everyone, byCluster := s.liveTokens(now)
	worst, count := "", everyone
	for id, n := range byCluster {
		if (len(audience) == 0 || slices.Contains(audience, id)) && everyone+n > count {
			worst, count = id, everyone+n
		}
	}
	if count >= bound {
		where := "every cluster"
		if worst != "" {
			where = fmt.Sprintf("cluster %q", worst)
		}
		return fmt.Errorf("%w: the users have %d tokens and S3 keys for %s that have not expired (revoked ones count until they expire), at most %d together, what a cluster's revocation list holds: try again once some expire, or delete unused S3 keys", ErrTooManyTokens, count, where, bound)
	}
	return nil
}

// Config configures the service.
type Config struct {
	// Keys sign the tokens; required, with a private key for RS256.
	Keys *Keys
	// StateFile keeps users, roles, clusters and revocations; required.
	StateFile string
	// AdminName and AdminPassword create the first admin when the state
	// has no users (AIS_AUTHN_SU_NAME, AIS_AUTHN_SU_PASS).
	AdminName, AdminPassword string
	// TokenTTL is a token's default lifetime (24h); MaxTokenTTL the
	// longest one asked for (30 days).
	TokenTTL, MaxTokenTTL time.Duration
	// Iterations of PBKDF2-SHA256 per password (600,000, OWASP's figure);
	// a password kept with fewer is hashed again at its next login.
	Iterations int
	// Client pushes revocations to the clusters; nil means a default.
	Client *http.Client
	// PushInterval is how often an undelivered revocation is retried (5s).
	PushInterval time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// Service is the AuthN service: users, roles, tokens, revocations.
type Service struct {
	cfg      Config
	verifier *Verifier
	mu       sync.Mutex
	st       state
	// dirty are the clusters that have not taken every revocation, each
	// with the change (of changes) it was marked at: a push done while a
	// later change came leaves it dirty.
	dirty   map[string]uint64
	changes uint64
	kick    chan struct{}
	// tokensUnsaved marks S3 keys' tokens for clusters made but not yet
	// saved: none is pushed until they are (one pushed and then lost to
	// a restart would live on at its cluster, unknown to a key delete).
	tokensUnsaved bool
	// saved is the state as last written (or read at the start): a
	// change whose save fails is undone to it, not kept in memory (and
	// pushed) to be lost at the next start.
	saved []byte
	// logins bounds the password checks that run at once: each is
	// deliberately slow, and a flood of logins must not take every core.
	logins chan struct{}
	// throttle slows the guessing of one user's password from one address.
	throttle loginThrottle
}

// maxStateBody bounds a request body of the service.
const maxStateBody = 1 << 20

// NewService loads the state (or starts it, with the first admin).
func NewService(cfg Config) (*Service, error) {
	if cfg.Keys == nil || cfg.Keys.sign == nil {
		return nil, errors.New("authn: the service needs a signing key (an HS256 secret or an RSA private key)")
	}
	if cfg.StateFile == "" {
		return nil, errors.New("authn: no state file")
	}
	cfg.TokenTTL = cmpOr(cfg.TokenTTL, 24*time.Hour)
	cfg.MaxTokenTTL = cmpOr(cfg.MaxTokenTTL, 30*24*time.Hour)
	cfg.PushInterval = cmpOr(cfg.PushInterval, 5*time.Second)
	if cfg.Iterations <= 0 {
		cfg.Iterations = 600_000
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, dirty: map[string]uint64{}, kick: make(chan struct{}, 1), logins: make(chan struct{}, 2)}
	s.verifier = NewVerifier(cfg.Keys, VerifierOptions{Revoked: s.isRevoked, Now: cfg.Now})
	data, err := os.ReadFile(cfg.StateFile)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &s.st); err != nil {
			return nil, fmt.Errorf("authn state %s: %w", cfg.StateFile, err)
		}
		s.saved = data
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("authn state: %w", err)
	}
	s.st.fill()
	if len(s.st.Users) == 0 {
		if cfg.AdminName == "" || cfg.AdminPassword == "" {
			return nil, errors.New("authn: no users yet: set AIS_AUTHN_SU_NAME and AIS_AUTHN_SU_PASS for the first admin")
		}
		if err := s.addUser(User{ID: cfg.AdminName, Password: cfg.AdminPassword, Roles: []string{RoleAdmin}}); err != nil {
			return nil, err
		}
	}
	for id := range s.st.Clusters {
		if len(s.st.Revoked) > 0 || len(s.st.S3Keys) > 0 {
			s.markDirty(id)
		}
	}
	return s, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// fill makes the maps a state read without them has.
func (st *state) fill() {
	if st.Users == nil {
		st.Users = map[string]*User{}
	}
	if st.Roles == nil {
		st.Roles = map[string]*Role{}
	}
	if st.Clusters == nil {
		st.Clusters = map[string]*Cluster{}
	}
	if st.Issued == nil {
		st.Issued = map[string][]revokedToken{}
	}
	if st.Revoked == nil {
		st.Revoked = map[string]revokedToken{}
	}
	if st.S3Keys == nil {
		st.S3Keys = map[string]*S3Key{}
	}
}

// save writes the state; the caller holds mu. One that cannot be written
// (a full disk) undoes the changes since the last save but revocations:
// kept in memory, and pushed to the clusters, they would be lost at the
// next start (a stolen password working again) while the caller is told
// they failed.
func (s *Service) save() error {
	data, err := json.MarshalIndent(&s.st, "", "  ")
	if err == nil {
		err = atomicfile.Write(s.cfg.StateFile, data, 0o600)
	}
	if err != nil {
		s.rollback()
		return err
	}
	s.saved = data
	return nil
}

// rollback sets the state back to the last one saved; the caller holds
// mu.
func (s *Service) rollback() {
	if s.saved == nil {
		return // none saved yet (the first admin's start): nothing to go back to
	}
	var st state
	if err := json.Unmarshal(s.saved, &st); err != nil {
		return
	}
	st.fill()
	// The revocations stay (they only refuse, and clusters may have
	// them already): until a save, this service refuses them too. But
	// those of the tokens of the keys back (the failed change revoked
	// them to issue them again, or with their user): kept, a key listed
	// would work nowhere.
	restored := map[string]bool{}
	for _, k := range st.S3Keys {
		for _, token := range append(slices.Collect(maps.Values(k.ClusterTokens)), k.Token) {
			if c, err := s.cfg.Keys.Parse(token); err == nil {
				restored[c.ID] = true
			}
		}
	}
	for id, r := range s.st.Revoked {
		if _, before := st.Revoked[id]; !before && !restored[id] {
			st.Revoked[id] = r
		}
	}
	s.st = st
	// The clusters are pushed the state as saved at the next round (not
	// at once: a push whose own save fails would spin).
	for id := range s.st.Clusters {
		s.markDirty(id)
	}
}

func (s *Service) isRevoked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.Revoked[id]
	return ok
}

// hashing is a test's hook as a password is hashed.
var hashing = func() {}

// hashPassword returns "pbkdf2-sha256$ITER$SALT$HASH".
func (s *Service) hashPassword(password string) (string, error) {
	hashing()
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, s.cfg.Iterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", s.cfg.Iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// dummyHash is a hash no password matches, of the given rounds: the work
// of a check that must cost as one does.
func dummyHash(rounds int) string {
	return "pbkdf2-sha256$" + strconv.Itoa(rounds) + "$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
}

// iterationsOf returns the rounds a password hash was made with (0 when
// it is not one).
func iterationsOf(hash string) int {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 {
		return 0
	}
	iter, _ := strconv.Atoi(parts[1])
	return iter
}

// checkPassword compares in constant time.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter <= 0 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	passwordWork(iter)
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// passwordWork runs with the rounds of each password check (a test's
// hook: what a refusal costs).
var passwordWork = func(int) {}

// validID checks a user, role or cluster id: it is a path segment.
func validID(kind, id string) error {
	if err := pathsafe.Segment(kind, id); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(id) > 128 {
		return fmt.Errorf("%w: %s id longer than 128 bytes", ErrBadRequest, kind)
	}
	return nil
}

// addUser adds a user (password in clear); the caller holds mu or owns s.
func (s *Service) addUser(u User) error {
	if err := checkNewUser(u); err != nil {
		return err
	}
	if _, ok := s.st.Users[u.ID]; ok {
		return fmt.Errorf("%w: user %q", ErrExists, u.ID)
	}
	if err := s.checkRoles(u.Roles); err != nil {
		return err
	}
	hash, err := s.hashPassword(u.Password)
	if err != nil {
		return err
	}
	u.Password = hash
	return s.addHashedUser(u)
}

// addHashedUser adds a user whose password is hashed already (outside
// the service's lock: a hash takes a fifth of a second, which every
// request would wait for). The caller holds mu and checked the user.
func (s *Service) addHashedUser(u User) error {
	if _, ok := s.st.Users[u.ID]; ok {
		return fmt.Errorf("%w: user %q", ErrExists, u.ID)
	}
	if err := s.checkRoles(u.Roles); err != nil {
		return err
	}
	s.st.Users[u.ID] = &u
	return s.save()
}

// checkNewUser checks what of a new user needs no lock.
func checkNewUser(u User) error {
	if u.ID == ServiceSubject {
		// The service's own push tokens carry it: a user of that name
		// would be "self" to every cluster's gateway.
		return fmt.Errorf("%w: user name %q is the service's own", ErrBadRequest, u.ID)
	}
	if err := validID("user", u.ID); err != nil {
		return err
	}
	if u.Password == "" {
		return fmt.Errorf("%w: user %q needs a password", ErrBadRequest, u.ID)
	}
	return nil
}

func (s *Service) checkRoles(roles []string) error {
	builtin := BuiltinRoles()
	for _, r := range roles {
		if _, ok := builtin[r]; ok {
			continue
		}
		if _, ok := s.st.Roles[r]; !ok {
			return fmt.Errorf("%w: no role %q (built in: %s)", ErrBadRequest, r, strings.Join(slices.Sorted(maps.Keys(builtin)), ", "))
		}
	}
	return nil
}

// grants are a user's own and its roles'.
func (s *Service) grants(u *User) Grants {
	var g Grants
	g.add(u.Perm, u.Buckets)
	builtin := BuiltinRoles()
	for _, name := range u.Roles {
		if r, ok := builtin[name]; ok {
			g.add(r.Perm, r.Buckets)
		} else if r := s.st.Roles[name]; r != nil {
			g.add(r.Perm, r.Buckets)
		}
	}
	return g
}

// minTokenTTL is the shortest lifetime a login may ask for.
const minTokenTTL = time.Minute

// passwordChecked runs once a login's password is checked (a test's
// hook: the user changes meanwhile).
var passwordChecked = func(string) {}

// Login checks a password and returns a token of the user's grants,
// valid for ttl (0: the default) and for cluster ("": those the user may
// use, or any).
func (s *Service) Login(name, password string, ttl time.Duration, cluster string) (string, error) {
	// The request's own fields first: refused after the password, they
	// would tell a right one from a wrong one (400, not 401) without a
	// token issued, kept or counted.
	if cluster != "" {
		if err := validID("cluster", cluster); err != nil {
			return "", err
		}
	}
	switch {
	case ttl < 0 || ttl > s.cfg.MaxTokenTTL:
		return "", fmt.Errorf("%w: expires_in %s is outside (0, %s]", ErrBadRequest, ttl, s.cfg.MaxTokenTTL)
	case ttl > 0 && ttl < minTokenTTL:
		// Each logout of one is a revocation every cluster is sent: a
		// loop of nanosecond tokens would keep the pushes busy.
		return "", fmt.Errorf("%w: expires_in %s is under %s", ErrBadRequest, ttl, minTokenTTL)
	case ttl == 0:
		ttl = s.cfg.TokenTTL
	}
	s.mu.Lock()
	u := s.st.Users[name]
	var hash string
	if u != nil {
		hash = u.Password
	}
	s.mu.Unlock()
	if u == nil {
		// The same work as a known user, so timing does not tell names.
		checkPassword(dummyHash(s.cfg.Iterations), password)
		return "", ErrLogin
	}
	if !checkPassword(hash, password) {
		if rounds := iterationsOf(hash); rounds > 0 && rounds < s.cfg.Iterations {
			// The rest of the configured work, as a user unknown costs:
			// a faster refusal would tell the name exists.
			checkPassword(dummyHash(s.cfg.Iterations-rounds), password)
		}
		return "", ErrLogin
	}
	// A hash of fewer rounds (an older default) is made again while the
	// password is at hand; kept below only if the user did not change.
	var rehashed string
	if iterationsOf(hash) < s.cfg.Iterations {
		var err error
		if rehashed, err = s.hashPassword(password); err != nil {
			return "", err
		}
	}
	passwordChecked(name)
	// Issued and kept under one hold of the lock, so that deleting the
	// user, or changing what it may do, revokes it: a change made while
	// the password was checked is seen here.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Users[name] != u {
		return "", fmt.Errorf("%w: user %q changed while logging in: log in again", ErrChanged, name)
	}
	grants := s.grants(u)
	audience := slices.Clone(u.Clusters)
	if cluster != "" {
		if len(audience) > 0 && !slices.Contains(audience, cluster) {
			return "", fmt.Errorf("%w: user %q may not use cluster %q", ErrForbidden, name, cluster)
		}
		audience = []string{cluster}
	}
	now := s.cfg.Now().Unix()
	live := slices.DeleteFunc(s.st.Issued[name], func(t revokedToken) bool { return t.Expires < now })
	loggedOut := 0
	for _, r := range s.st.Revoked {
		if r.LoggedOut == name && r.Expires >= now {
			loggedOut++
		}
	}
	if len(live)+loggedOut >= maxIssued {
		s.st.Issued[name] = live
		return "", fmt.Errorf("%w: user %q has %d tokens that have not expired (%d logged out: revoked until they expire), at most %d: log in again once some expire", ErrTooManyTokens, name, len(live)+loggedOut, loggedOut, maxIssued)
	}
	// An admin's may go past it by AdminReserve: one must be able to log
	// in to delete users and keys.
	bound := MaxLiveTokens
	if grants.Perm.Has(PermAdmin) {
		bound += AdminReserve
	}
	if err := s.checkLiveTokens(now, audience, bound); err != nil {
		s.st.Issued[name] = live
		return "", err
	}
	token, err := s.issue(name, grants, audience, ttl)
	if err != nil {
		return "", err
	}
	s.st.Issued[name] = append(live, revokedToken{Token: token, Expires: now + int64(ttl/time.Second), Audience: audience})
	if rehashed != "" && u.Password == hash {
		u.Password = rehashed
	}
	return token, s.save()
}

// loginToken reports whether token is one of subject's live login
// tokens: only those administer the service or act as the user there,
// not an S3 key's (pushed to clusters) nor the service's own.
func (s *Service) loginToken(token, subject string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.st.Issued[subject], func(t revokedToken) bool { return t.Token == token })
}

// revokeUserLocked revokes every live token of a user: its logins and its
// S3 keys' (which are issued again with its grants as they are now,
// unless the user is gone). A token it cannot revoke is logged, and the
// rest revoked all the same. The caller holds mu.
func (s *Service) revokeUserLocked(user string) { s.revokeUserKeysLocked(user, false) }

// revokeUserKeysLocked is revokeUserLocked; with dropKeys, the user's S3
// keys go rather than being issued again, and so do those its logins
// made for others (a password changed: a key made with a stolen login
// would outlive it).
func (s *Service) revokeUserKeysLocked(user string, dropKeys bool) {
	logins := map[string]bool{} // the ids of the user's logins revoked
	for _, t := range s.st.Issued[user] {
		if c, err := s.cfg.Keys.Parse(t.Token); err == nil && c.ID != "" {
			logins[c.ID] = true
		}
		if err := s.revokeLocked(t.Token); err != nil {
			s.cfg.Logger.Warn("revoke a token of a changed user", "user", user, "err", err)
		}
	}
	delete(s.st.Issued, user)
	u := s.st.Users[user]
	for access, k := range s.st.S3Keys {
		if k.User != user {
			if dropKeys && (k.MadeBy == user || k.MadeWith != "" && logins[k.MadeWith]) {
				// Made for another by this user (an admin's login, maybe
				// stolen, logged out or expired since): it goes with its
				// logins, as with a login revoked with its keys.
				delete(s.st.S3Keys, access)
				s.revokeKeyLocked(k, false)
			}
			continue
		}
		// Its end stays: a key lives a year from its making, whatever the
		// changes of its user (a cluster's record of a login revoked with
		// its keys would lapse before a key made with it).
		life := s3KeyTTL
		if c, err := s.cfg.Keys.Parse(k.Token); err == nil {
			life = c.ExpiresAt.Sub(s.cfg.Now())
		}
		s.revokeKeyLocked(k, false)
		if u == nil || dropKeys || life <= 0 {
			delete(s.st.S3Keys, access)
			continue
		}
		// Within the clusters it was made for, of those the user may
		// use now; none left, or not the one it works on: the key goes.
		clusters, err := keyClusters(u, k.Clusters)
		if err != nil || k.Cluster != "" && len(clusters) > 0 && !slices.Contains(clusters, k.Cluster) {
			delete(s.st.S3Keys, access)
			continue
		}
		token, err := s.issueKey(user, s.grants(u), clusters, life, k.MadeWith)
		if err != nil {
			// Not kept with the grants it had: the key goes.
			s.cfg.Logger.Warn("issue an S3 key again", "user", user, "access_key", access, "err", err)
			delete(s.st.S3Keys, access)
			continue
		}
		k.Token = token
	}
	s.changed()
}

func (s *Service) issue(subject string, grants Grants, audience []string, ttl time.Duration) (string, error) {
	return s.issueKey(subject, grants, audience, ttl, "")
}

// issueKey is issue for the token of an S3 key made with login token
// madeWith.
func (s *Service) issueKey(subject string, grants Grants, audience []string, ttl time.Duration, madeWith string) (string, error) {
	now := s.cfg.Now()
	c := &Claims{Grants: grants, MadeWith: madeWith, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: subject, Audience: audience, ID: NewTokenID(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	token, err := s.cfg.Keys.Sign(c)
	if err == nil && len(token) > maxTokenSize {
		// No one could verify it, nor this service revoke it.
		return "", fmt.Errorf("%w: a token of user %q would be %d bytes, more than %d: its grants are too many", ErrBadRequest, subject, len(token), maxTokenSize)
	}
	return token, err
}

// Revoke revokes a valid token of this service and pushes it to every
// registered cluster. With keys (a token revoked by another, as one
// stolen), the S3 keys made with it go too: a stolen login's keys would
// outlive its revocation by a year. A logout (the holder's own) keeps
// them.
func (s *Service) Revoke(token string, keys bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.revokeLocked(token); err != nil {
		// The token sent to be revoked, not the caller's own: a 400,
		// not a 401 the caller would take for its login refused.
		return fmt.Errorf("%w: the token to revoke: %v", ErrBadRequest, err)
	}
	if c, err := s.cfg.Keys.Parse(token); err == nil {
		if r, ok := s.st.Revoked[c.ID]; ok && !keys {
			// A logout: counted among its user's tokens until it
			// expires (as revoked now, not as logged in).
			r.LoggedOut = c.Subject
			s.st.Revoked[c.ID] = r
		}
		s.st.Issued[c.Subject] = slices.DeleteFunc(s.st.Issued[c.Subject], func(t revokedToken) bool { return t.Token == token })
	}
	if c, err := s.cfg.Keys.Parse(token); err == nil && c.ID != "" && keys {
		for access, k := range s.st.S3Keys {
			if k.MadeWith == c.ID {
				delete(s.st.S3Keys, access)
				s.revokeKeyLocked(k, false)
			}
		}
	}
	// A key's own token (a cluster's, leaked): the key goes, else a
	// change of its user would make it a token again.
	for access, k := range s.st.S3Keys {
		if k.Token == token || slices.Contains(slices.Collect(maps.Values(k.ClusterTokens)), token) {
			delete(s.st.S3Keys, access)
			s.revokeKeyLocked(k, false)
		}
	}
	return s.save()
}

// revocationMargin is how long past a token's end a revocation is kept,
// as clusters keep them (cluster/membership.RevocationMargin).
const revocationMargin = 5 * time.Minute

// revokeLocked is Revoke without the save; the caller holds mu.
func (s *Service) revokeLocked(token string) error {
	c, err := s.cfg.Keys.Parse(token)
	if err != nil {
		return err
	}
	// Past its end by more than the leeway its verifiers give, and the
	// margin clusters keep revocations by (a service clock that much
	// ahead of theirs still records a token they take): no one takes it
	// any more (before, the service's own checks would).
	now := s.cfg.Now().Add(-clockLeeway - revocationMargin).Unix()
	for id, r := range s.st.Revoked {
		if r.Expires < now {
			delete(s.st.Revoked, id)
		}
	}
	if c.ExpiresAt.Unix() < now {
		return nil // nothing to revoke
	}
	s.st.Revoked[c.ID] = revokedToken{Token: token, Expires: c.ExpiresAt.Unix(), Audience: c.Audience}
	s.changed()
	return nil
}

// changed marks every cluster as due a push and wakes the pusher; the
// caller holds mu.
func (s *Service) changed() {
	for id := range s.st.Clusters {
		s.markDirty(id)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// markDirty notes that cluster id has a change to take; mu is held.
func (s *Service) markDirty(id string) {
	s.changes++
	s.dirty[id] = s.changes
}

// keyClusters is the audience of a user's S3 key: the user's clusters,
// narrowed to within when given.
func keyClusters(u *User, within []string) ([]string, error) {
	if len(within) == 0 {
		return u.Clusters, nil
	}
	if len(u.Clusters) == 0 {
		return within, nil
	}
	both := slices.DeleteFunc(slices.Clone(within), func(c string) bool { return !slices.Contains(u.Clusters, c) })
	if len(both) == 0 {
		return nil, fmt.Errorf("%w: user %q may use none of the clusters %v", ErrForbidden, u.ID, within)
	}
	return both, nil
}

// keyCluster is the one cluster a new key of a user works on: the one
// named, else the one the user (narrowed by within) may use, else the one
// registered; "" when none is registered yet (bound at its first push).
// The caller holds mu.
func (s *Service) keyCluster(u *User, within []string, named string) (string, error) {
	allowed, err := keyClusters(u, within)
	if err != nil {
		return "", err
	}
	if named != "" {
		if len(allowed) > 0 && !slices.Contains(allowed, named) {
			return "", fmt.Errorf("%w: user %q may not use cluster %q (only %v)", ErrForbidden, u.ID, named, allowed)
		}
		if s.st.Clusters[named] == nil {
			return "", fmt.Errorf("%w: cluster %q is not registered", ErrNotFound, named)
		}
		return named, nil
	}
	if len(allowed) == 1 {
		return allowed[0], nil
	}
	registered := s.registeredAmong(allowed)
	switch len(registered) {
	case 0:
		return "", nil
	case 1:
		return registered[0], nil
	}
	return "", fmt.Errorf("%w: user %q may use clusters %v: name the one this key is for (cluster_id); a key works on one cluster, whose gateways keep its secret", ErrBadRequest, u.ID, registered)
}

// registeredAmong is the registered clusters, sorted, of those allowed
// (empty: every one). The caller holds mu.
func (s *Service) registeredAmong(allowed []string) []string {
	var out []string
	for id := range s.st.Clusters {
		if len(allowed) == 0 || slices.Contains(allowed, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// NewS3Key makes an S3 access key for a user, acting with the user's
// grants as of now, on one of the user's clusters (cluster, or the only
// one it may use); within, when given, narrows them (a key asked for with
// a token for some clusters).
func (s *Service) NewS3Key(user string, within []string, madeWith, madeBy, cluster string) (S3Key, error) {
	// Under one hold of the lock: a key made for a user deleted, or
	// changed, meanwhile would outlive the change.
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.Users[user]
	if u == nil {
		return S3Key{}, fmt.Errorf("%w: user %q", ErrNotFound, user)
	}
	if _, revoked := s.st.Revoked[madeWith]; madeWith != "" && revoked {
		// Revoked (a password reset, a stolen token) since the caller's
		// check: a key made now would outlive that by a year.
		return S3Key{}, fmt.Errorf("%w: the token this request came with, since it was checked", ErrRevoked)
	}
	if count := len(s.st.S3Keys); count >= maxS3Keys {
		return S3Key{}, fmt.Errorf("%w: %d S3 keys already", ErrBadRequest, count)
	}
	mine := 0
	for _, k := range s.st.S3Keys {
		if k.User == user {
			mine++
		}
	}
	if mine >= maxUserS3Keys {
		return S3Key{}, fmt.Errorf("%w: user %q has %d S3 keys already, the most one may have: delete one first", ErrBadRequest, user, mine)
	}
	now := s.cfg.Now().Unix()
	revoked := 0
	for _, r := range s.st.Revoked {
		if r.KeyOf == user && r.Expires >= now {
			revoked++
		}
	}
	if mine+revoked >= maxIssued {
		return S3Key{}, fmt.Errorf("%w: user %q has %d S3 keys, and %d tokens of deleted ones revoked until they expire (a year after they were made), at most %d together",
			ErrTooManyTokens, user, mine, revoked, maxIssued)
	}
	clusters, err := keyClusters(u, within)
	if err != nil {
		return S3Key{}, err
	}
	home, err := s.keyCluster(u, within, cluster)
	if err != nil {
		return S3Key{}, err
	}
	if err := s.checkLiveTokens(now, clusters, MaxLiveTokens); err != nil {
		return S3Key{}, err
	}
	token, err := s.issueKey(user, s.grants(u), clusters, s3KeyTTL, madeWith)
	if err != nil {
		return S3Key{}, err
	}
	size := pushSize(&S3Key{AccessKey: strings.Repeat("A", 23), Secret: strings.Repeat("s", 40), User: user, Token: token})
	for _, k := range s.st.S3Keys {
		size += pushSize(k)
	}
	if size > maxS3KeysPush {
		return S3Key{}, fmt.Errorf("%w: the S3 keys would take %d bytes, more than the %d a cluster takes in one push: delete some first", ErrBadRequest, size, maxS3KeysPush)
	}
	var id [10]byte
	var secret [30]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	key := S3Key{AccessKey: "AIS" + strings.ToUpper(hex.EncodeToString(id[:])), Secret: base64.RawURLEncoding.EncodeToString(secret[:]), User: user, Token: token, Clusters: slices.Clone(within), Cluster: home, MadeWith: madeWith, MadeBy: madeBy}
	s.st.S3Keys[key.AccessKey] = &key
	s.changed()
	return key, s.save()
}

// checkReissue checks that the S3 keys, those of user issued again with
// the grants of next, fit one push. The caller holds mu.
func (s *Service) checkReissue(user string, next *User) error {
	keys := 0
	size := 0
	for _, k := range s.st.S3Keys {
		if k.User != user {
			size += pushSize(k)
			continue
		}
		keys++
	}
	if keys == 0 {
		return nil
	}
	token, err := s.issueKey(user, s.grants(next), next.Clusters, s3KeyTTL, NewTokenID())
	if err != nil {
		return err
	}
	size += keys * pushSize(&S3Key{AccessKey: strings.Repeat("A", 23), Secret: strings.Repeat("s", 40), User: user, Token: token})
	if size > maxS3KeysPush {
		return fmt.Errorf("%w: the %d S3 keys of %q, issued again with the new grants, would take the keys to %d bytes, more than the %d a cluster takes in one push: delete some first",
			ErrBadRequest, keys, user, size, maxS3KeysPush)
	}
	return nil
}

// DeleteS3Key removes a key and revokes its tokens.
func (s *Service) DeleteS3Key(access string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.st.S3Keys[access]
	if key == nil {
		return fmt.Errorf("%w: S3 key %q", ErrNotFound, access)
	}
	delete(s.st.S3Keys, access)
	s.revokeKeyLocked(key, true)
	s.changed()
	return s.save()
}

// revokeKeyLocked revokes an S3 key's tokens: its own and those made for
// one cluster each. A key deleted (not issued again by an admin's change)
// counts among its user's keys until its own token expires (KeyOf). The
// caller holds mu.
func (s *Service) revokeKeyLocked(k *S3Key, deleted bool) {
	for _, token := range append([]string{k.Token}, slices.Collect(maps.Values(k.ClusterTokens))...) {
		c, err := s.cfg.Keys.Parse(token)
		var revokedBefore bool
		if err == nil {
			_, revokedBefore = s.st.Revoked[c.ID]
		}
		if err := s.revokeLocked(token); err != nil {
			s.cfg.Logger.Warn("revoke a token of an S3 key", "user", k.User, "access_key", k.AccessKey, "err", err)
			continue
		}
		r, ok := s.st.Revoked[c.ID]
		if !ok || token != k.Token {
			continue
		}
		if deleted {
			r.KeyOf = k.User
		}
		// A key's own token for every cluster went to none, unless the
		// key is from before tokens per cluster (made with no login's
		// id, none made for a cluster yet: the older version pushed it).
		if !revokedBefore && len(c.Audience) == 0 && (k.MadeWith != "" || k.ClusterTokens != nil) {
			r.Unpushed = true
		}
		s.st.Revoked[c.ID] = r
	}
	k.ClusterTokens = nil
}

// clusterKeyToken is the token of key k pushed to cluster id: its own
// when it names id alone, else one for id alone, made once (with the
// grants and end of its own) and kept: a token for more clusters in one
// cluster's state would let its operators act as the user on the others.
// The caller holds mu.
func (s *Service) clusterKeyToken(k *S3Key, id string) (token string, made bool, err error) {
	c, err := s.cfg.Keys.Parse(k.Token)
	if err != nil {
		return "", false, err
	}
	// A token from before tokens named their login (made_with) is made
	// again with it, its end kept: a cluster that revokes that login with
	// its keys must know the key for one of them.
	stale := func(t *Claims) bool { return t.MadeWith == "" && k.MadeWith != "" && t.ExpiresAt.After(s.cfg.Now()) }
	if len(c.Audience) > 0 && !slices.Contains(c.Audience, id) {
		return "", false, fmt.Errorf("%w: the token of S3 key %s does not act on cluster %q", ErrForbidden, k.AccessKey, id)
	}
	if len(c.Audience) == 1 {
		if !stale(c) {
			return k.Token, false, nil
		}
		token, err := s.issueKey(k.User, c.Grants, c.Audience, c.ExpiresAt.Sub(s.cfg.Now()), k.MadeWith)
		if err != nil {
			return "", false, err
		}
		if err := s.revokeLocked(k.Token); err != nil {
			s.cfg.Logger.Warn("revoke the token of an S3 key made again", "user", k.User, "access_key", k.AccessKey, "err", err)
		}
		k.Token = token
		return token, true, nil
	}
	if t := k.ClusterTokens[id]; t != "" {
		if tc, err := s.cfg.Keys.Parse(t); err == nil && !stale(tc) {
			return t, false, nil
		} else if err == nil {
			// Replaced below: the one the cluster had goes.
			if err := s.revokeLocked(t); err != nil {
				s.cfg.Logger.Warn("revoke the token of an S3 key made again", "user", k.User, "access_key", k.AccessKey, "err", err)
			}
		}
	}
	token, err = s.issueKey(k.User, c.Grants, []string{id}, c.ExpiresAt.Sub(s.cfg.Now()), k.MadeWith)
	if err != nil {
		return "", false, err
	}
	if k.ClusterTokens == nil {
		k.ClusterTokens = map[string]string{}
		if k.MadeWith == "" || len(c.Audience) > 1 {
			// A key from before tokens per cluster: its own token was
			// pushed to every cluster (or, naming more, to its own), and
			// goes.
			if err := s.revokeLocked(k.Token); err != nil {
				s.cfg.Logger.Warn("revoke the every-cluster token of an S3 key", "user", k.User, "access_key", k.AccessKey, "err", err)
			}
		}
	}
	k.ClusterTokens[id] = token
	return token, true, nil
}

// Run pushes revocations to the registered clusters until ctx ends:
// at once after a change, and again every PushInterval until each took
// them.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
		}
		s.pushAll(ctx)
	}
}

// ClusterTokensPath is where a cluster's gateways take revocations.
const ClusterTokensPath = "/v1/tokens"

// TokenMsg names a token (AIStore's body of a revocation and a login's
// answer).
type TokenMsg struct {
	Token string `json:"token"`
}

func (s *Service) pushAll(ctx context.Context) {
	s.mu.Lock()
	type job struct {
		id     string
		change uint64 // the dirty mark it takes away
		urls   []string
		tokens []string
		keys   S3KeysMsg
	}
	var jobs []job
	madeTokens := false // a key's token for a cluster, to keep
	// A key not bound to its cluster yet (made before any was registered)
	// is bound to the one it may use once there is one. A key of several
	// (kept from before keys were bound) goes to each, as it did, with a
	// warning: its secret lets one's operators act on another.
	bound := false
	for _, k := range s.st.S3Keys {
		u := s.st.Users[k.User]
		if u == nil || k.Cluster != "" {
			continue
		}
		clusters, err := keyClusters(u, k.Clusters)
		if err != nil {
			continue
		}
		switch registered := s.registeredAmong(clusters); len(registered) {
		case 0:
		case 1:
			k.Cluster, bound = registered[0], true
			s.cfg.Logger.Info("an S3 key is bound to its cluster", "user", k.User, "access_key", k.AccessKey, "cluster", k.Cluster)
		default:
			s.cfg.Logger.Warn("an S3 key works on several clusters with one secret: each keeps it, and one's operators could act as its user on another; make a key per cluster (ais auth add s3-key --cluster) and delete this one",
				"user", k.User, "access_key", k.AccessKey, "clusters", registered)
		}
	}
	if bound {
		madeTokens = true // saved with the tokens below
	}
	for id, change := range s.dirty {
		c := s.st.Clusters[id]
		if c == nil {
			delete(s.dirty, id)
			continue
		}
		j := job{id: id, change: change, urls: slices.Clone(c.URLs)}
		// Those no one takes any more go no further (kept until the
		// next revocation prunes them).
		gone := s.cfg.Now().Add(-clockLeeway - revocationMargin).Unix()
		for _, r := range s.st.Revoked {
			if r.Expires < gone {
				continue
			}
			// Only where it was valid: a whole bearer token in another
			// cluster's state would be one more place it can leak from
			// before its own cluster learns it is revoked.
			// A token the keys no longer verify (signed before they
			// changed) acts nowhere: a gateway would refuse it, and the
			// push with it, until it expires.
			if !r.Unpushed && (len(r.Audience) == 0 || slices.Contains(r.Audience, id)) {
				if _, err := s.cfg.Keys.Parse(r.Token); err == nil {
					j.tokens = append(j.tokens, r.Token)
				}
			}
		}
		j.keys.Keys = []S3Key{}
		for _, k := range s.st.S3Keys {
			// A key goes only where its token may act, with a token for
			// that cluster alone: its secret and a token in another
			// cluster's state would let that cluster's operators act as
			// the user here.
			if u := s.st.Users[k.User]; u != nil {
				if clusters, err := keyClusters(u, k.Clusters); err != nil || len(clusters) > 0 && !slices.Contains(clusters, id) || k.Cluster != "" && k.Cluster != id {
					continue
				}
				token, made, err := s.clusterKeyToken(k, id)
				if err != nil {
					continue // as above: its token verifies nowhere
				}
				madeTokens = madeTokens || made
				pushed := *k
				pushed.Token, pushed.ClusterTokens = token, nil
				j.keys.Keys = append(j.keys.Keys, pushed)
			}
		}
		jobs = append(jobs, j)
	}
	if madeTokens || s.tokensUnsaved {
		// Kept, so that each cluster keeps the one token it was given
		// (and a delete of the key revokes it).
		s.tokensUnsaved = false
		if err := s.save(); err != nil {
			s.tokensUnsaved = true
			s.cfg.Logger.Warn("authn: the S3 keys' tokens for the clusters are not saved; the keys are held back, revocations still go", "err", err)
		}
	}
	holdKeys := s.tokensUnsaved
	s.mu.Unlock()
	for _, j := range jobs {
		keys := &j.keys
		if holdKeys {
			keys = nil
		}
		// Each cluster gets a token for it alone: one cluster's gateway
		// cannot replay it on another, nor on this service (see admin).
		service, err := s.issue(ServiceSubject, Grants{Perm: PermAdmin}, []string{j.id}, pushTokenLife)
		if err != nil {
			s.cfg.Logger.Error("authn: cannot sign the service's token", "err", err)
			return
		}
		if err := s.push(ctx, j.urls, j.tokens, keys, service); err != nil {
			var refused *refusedError
			if errors.As(err, &refused) && refused.status == http.StatusUnauthorized && strings.Contains(refused.msg, "expired") {
				s.cfg.Logger.Error("authn: the cluster finds the service's fresh token expired: its clock runs more than "+pushTokenLife.String()+" ahead of this host's (keep both on NTP); revocations and S3 keys do not reach it", "cluster", j.id, "err", err)
				continue
			}
			s.cfg.Logger.Warn("authn: revocations not delivered yet; retrying", "cluster", j.id, "err", err)
			continue
		}
		if keys == nil {
			continue // dirty still: the keys go once their tokens are saved
		}
		s.mu.Lock()
		if s.dirty[j.id] == j.change {
			delete(s.dirty, j.id) // no change came while it was pushed
		}
		s.mu.Unlock()
	}
}

// pushTokenLife is how long the token of a push lives: long enough for a
// gateway whose clock runs minutes ahead of the service's to take it,
// short as a token of the cluster's admin must be (each cluster gets its
// own, and each push a new one).
const pushTokenLife = 10 * time.Minute

// push sends every revoked token, then the S3 keys (unless nil), to the
// first gateway that takes them all.
func (s *Service) push(ctx context.Context, urls, tokens []string, keys *S3KeysMsg, service string) error {
	var last error = errors.New("no gateway URL")
	for _, base := range urls {
		last = nil
		base = strings.TrimRight(base, "/")
		var later error // a revocation refused for now: the push is retried
		for _, t := range tokens {
			last = s.send(ctx, http.MethodDelete, base+ClusterTokensPath, TokenMsg{Token: t}, service)
			var refused *refusedError
			if errors.As(last, &refused) && (refused.status == http.StatusBadRequest || refused.status == http.StatusConflict) {
				// One token refused does not hold the others nor the S3
				// keys. A 400 is for good (sent again, refused again); a
				// 409 (the cluster's list full) may pass later: the push
				// is tried again.
				s.cfg.Logger.Warn("authn: a cluster refused a revocation", "err", last)
				if refused.status == http.StatusConflict && later == nil {
					later = last
				}
				last = nil
				continue
			}
			if last != nil {
				break
			}
		}
		if last == nil && keys != nil {
			last = s.send(ctx, http.MethodPut, base+ClusterS3KeysPath, *keys, service)
		}
		if last == nil {
			return later
		}
	}
	return last
}

// send makes one request of a push.
func (s *Service) send(ctx context.Context, method, url string, body any, service string) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// (Errors are logged: the URL without the user and password it may
	// carry.)
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(data))
	if err != nil {
		return redact.Error(err, url)
	}
	req.Header.Set("Authorization", "Bearer "+service)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return redact.Error(err, url)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return &refusedError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, redact.Link(url), resp.Status, strings.TrimSpace(string(msg)))}
	}
	return nil
}

// refusedError is a gateway's refusal of one request of a push.
type refusedError struct {
	status int
	msg    string
}

func (e *refusedError) Error() string { return e.msg }
