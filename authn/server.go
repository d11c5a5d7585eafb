package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Handler serves the service's REST API, in AIStore's AuthN shape:
//
//	POST   /v1/users/{id}      log in: {"password", "expires_in", "cluster_id"} → {"token"}
//	POST   /v1/users           add a user            (admin)
//	PUT    /v1/users/{id}      change a user         (admin)
//	GET    /v1/users[/{id}]    users                 (admin)
//	DELETE /v1/users/{id}      remove a user, and the S3 keys it made for others → {"dropped_s3_keys"} (admin)
//	POST   /v1/roles, GET /v1/roles[/{id}], DELETE /v1/roles/{id}       (admin)
//	POST   /v1/clusters, GET /v1/clusters, DELETE /v1/clusters/{id}     (admin)
//	DELETE /v1/tokens          revoke {"token"}      (admin, or the token's holder)
//	POST   /v1/users/{id}/s3-keys  an S3 access key of the user, {"cluster_id"} the one it works on → {"access_key", "secret_key", "cluster_id"} (admin, or the user)
//	DELETE /v1/s3-keys/{access}    delete one, revoking it (admin, or its user)
//	GET    /v1/health
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /v1/users/{id}", s.handleLogin)
	mux.HandleFunc("POST /v1/users", s.admin(s.handleAddUser))
	mux.HandleFunc("PUT /v1/users/{id}", s.admin(s.handleUpdateUser))
	mux.HandleFunc("GET /v1/users", s.admin(s.handleGetUsers))
	mux.HandleFunc("GET /v1/users/{id}", s.handleGetUser)
	mux.HandleFunc("DELETE /v1/users/{id}", s.admin(s.handleDeleteUser))
	mux.HandleFunc("POST /v1/roles", s.admin(s.handleAddRole))
	mux.HandleFunc("GET /v1/roles", s.admin(s.handleGetRoles))
	mux.HandleFunc("GET /v1/roles/{id}", s.admin(s.handleGetRoles))
	mux.HandleFunc("DELETE /v1/roles/{id}", s.admin(s.handleDeleteRole))
	mux.HandleFunc("POST /v1/clusters", s.admin(s.handleAddCluster))
	mux.HandleFunc("GET /v1/clusters", s.admin(s.handleGetClusters))
	mux.HandleFunc("DELETE /v1/clusters/{id}", s.admin(s.handleDeleteCluster))
	mux.HandleFunc("DELETE /v1/tokens", s.handleRevoke)
	mux.HandleFunc("POST /v1/users/{id}/s3-keys", s.handleAddS3Key)
	mux.HandleFunc("DELETE /v1/s3-keys/{access}", s.handleDeleteS3Key)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such route: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// BearerToken returns the token of an Authorization: Bearer header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// admin lets through requests with a valid admin token.
func (s *Service) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.caller(r)
		if err != nil {
			writeError(w, 0, err)
			return
		}
		if !c.Perm.Has(PermAdmin) {
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s %s needs ADMIN; user %q has %s", ErrForbidden, r.Method, r.URL.Path, c.Subject, c.Perm))
			return
		}
		if !serviceAdmin(c) {
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s %s needs an admin's token for every cluster (log in without a cluster); this one is for %v", ErrForbidden, r.Method, r.URL.Path, c.Audience))
			return
		}
		h(w, r)
	}
}

// caller verifies the request's token, which must be a login token: an
// S3 key's token (every cluster of the key holds it) or one the service
// pushed to a cluster acts on clusters, not on this service.
func (s *Service) caller(r *http.Request) (*Claims, error) {
	token := BearerToken(r)
	c, err := s.verifier.Verify(token)
	if err != nil {
		return nil, err
	}
	if !s.loginToken(token, c.Subject) {
		return nil, fmt.Errorf("%w: %s %s needs a login token (ais auth login); this one is not (an S3 key's, or a cluster's)", ErrForbidden, r.Method, r.URL.Path)
	}
	return c, nil
}

// serviceAdmin reports whether a token administers the service: an
// admin's for every cluster. The service's own push tokens (which a
// cluster's gateway receives), and tokens for some clusters only, do
// not: an admin of clusters X is not an admin of every cluster.
func serviceAdmin(c *Claims) bool {
	return c.Perm.Has(PermAdmin) && c.Subject != ServiceSubject && len(c.Audience) == 0
}

// Status maps the package's errors to HTTP.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrBadToken), errors.Is(err, ErrExpired),
		errors.Is(err, ErrRevoked), errors.Is(err, ErrAudience), errors.Is(err, ErrLogin):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrChanged):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooManyTokens):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, err error) {
	if status == 0 {
		status = Status(err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aisgo"`)
	}
	writeJSON(w, status, map[string]any{"message": err.Error(), "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body; unknown fields are errors.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxStateBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	return nil
}

// Duration is a lifetime in JSON: nanoseconds (AIStore's) or a Go
// duration string such as "1h".
type Duration time.Duration

// UnmarshalJSON takes either form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("expires_in: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("expires_in: %q is neither nanoseconds nor a duration such as \"1h\"", b)
	}
	*d = Duration(n)
	return nil
}

// LoginMsg is a login's body.
type LoginMsg struct {
	Password  string   `json:"password"`
	ExpiresIn Duration `json:"expires_in,omitempty"`
	ClusterID string   `json:"cluster_id,omitempty"`
}

// loginQueueWait is how long a login waits for a password-check slot.
const loginQueueWait = 5 * time.Second

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var msg LoginMsg
	if err := decode(r, &msg); err != nil {
		writeError(w, 0, err)
		return
	}
	user := r.PathValue("id")
	// A name no user can have is refused before it is logged or kept
	// as a throttle key (a megabyte each).
	if err := validID("user", user); err != nil {
		writeError(w, 0, err)
		return
	}
	key, address := throttleKey(user, r.RemoteAddr), addressKey(r.RemoteAddr)
	throttled := func() bool {
		now := s.cfg.Now()
		wait, whose := s.throttle.wait(key, now), fmt.Sprintf("of %q ", user)
		if byAddress := s.throttle.wait(address, now); byAddress > wait {
			wait, whose = byAddress, ""
		}
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
			writeError(w, http.StatusTooManyRequests, fmt.Errorf("%w: too many failed logins %sfrom this address: retry in %s", ErrLogin, whose, wait.Round(time.Second)))
		}
		return wait > 0
	}
	if throttled() {
		return
	}
	if !s.throttle.enter(r.Context(), address, loginQueueWait) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("authn: %d logins from this address are under way already: retry", maxAddressLogins))
		return
	}
	defer s.throttle.leave(address)
	// A queue of logins waits a little for a slot, not for ever: a flood
	// must not hold everyone's logins.
	busy := time.NewTimer(loginQueueWait)
	defer busy.Stop()
	select {
	case s.logins <- struct{}{}:
		defer func() { <-s.logins }()
		// Again once in a slot: guesses sent all at once passed the
		// check above before any of them failed.
		if throttled() {
			return
		}
	case <-busy.C:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, errors.New("authn: too many logins at once: retry"))
		return
	case <-r.Context().Done():
		return
	}
	token, err := s.Login(user, msg.Password, time.Duration(msg.ExpiresIn), msg.ClusterID)
	if err != nil {
		if errors.Is(err, ErrLogin) {
			now := s.cfg.Now()
			s.throttle.failed(key, freeFailures, 0, now)
			s.throttle.failed(address, freeAddressFailures, addressDecay, now)
		}
		s.cfg.Logger.Warn("authn: login refused", "user", user, "remote", r.RemoteAddr, "err", err)
		writeError(w, 0, err)
		return
	}
	s.throttle.succeeded(key)
	writeJSON(w, http.StatusOK, TokenMsg{Token: token})
}

func (s *Service) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if err := decode(r, &u); err != nil {
		writeError(w, 0, err)
		return
	}
	// Hashed before the lock: every request would wait for it.
	err := checkNewUser(u)
	if err == nil {
		u.Password, err = s.hashPassword(u.Password)
	}
	if err == nil {
		s.mu.Lock()
		err = s.addHashedUser(u)
		s.mu.Unlock()
	}
	if err != nil {
		writeError(w, 0, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStateBody))
	if err != nil {
		writeError(w, 0, fmt.Errorf("%w: body: %w", ErrBadRequest, err))
		return
	}
	var u User
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		writeError(w, 0, fmt.Errorf("%w: body: %w", ErrBadRequest, err))
		return
	}
	// A field sent is what the user gets, "perm": "" included.
	var sent map[string]json.RawMessage
	json.Unmarshal(body, &sent)
	id := r.PathValue("id")
	if u.ID != "" && u.ID != id {
		writeError(w, 0, fmt.Errorf("%w: body names user %q, the path %q", ErrBadRequest, u.ID, id))
		return
	}
	// The password checked and hashed outside the lock (a fifth of a
	// second each, which every request would wait for), against the
	// hash it then finds still in place.
	s.mu.Lock()
	var was string
	if old := s.st.Users[id]; old != nil {
		was = old.Password
	}
	s.mu.Unlock()
	// The same password sent again (a script that applies a user's
	// record) changes nothing: its S3 keys stay.
	var hash string
	if u.Password != "" && was != "" && !checkPassword(was, u.Password) {
		var err error
		if hash, err = s.hashPassword(u.Password); err != nil {
			writeError(w, 0, err)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.Users[id]
	if old == nil {
		writeError(w, 0, fmt.Errorf("%w: user %q", ErrNotFound, id))
		return
	}
	if old.Password != was {
		writeError(w, 0, fmt.Errorf("%w: user %q's password changed while this change was made: send it again", ErrChanged, id))
		return
	}
	if err := s.checkRoles(u.Roles); err != nil {
		writeError(w, 0, err)
		return
	}
	next := *old
	if hash != "" {
		next.Password = hash
	}
	if u.Roles != nil {
		next.Roles = u.Roles
	}
	// The field's name in any case, as the decoder above takes it: a
	// "Perm" it set must not be dropped here.
	for field := range sent {
		if strings.EqualFold(field, "perm") {
			next.Perm = u.Perm
		}
	}
	if u.Buckets != nil {
		next.Buckets = u.Buckets
	}
	if u.Clusters != nil {
		next.Clusters = u.Clusters
	}
	if !s.isServiceAdmin(&next) && s.isLastAdmin(id) {
		writeError(w, 0, fmt.Errorf("%w: %q is the last admin", ErrBadRequest, id))
		return
	}
	regrant := !reflect.DeepEqual(s.grants(old), s.grants(&next)) || !slices.Equal(old.Clusters, next.Clusters)
	if regrant && next.Password == old.Password {
		// Its S3 keys are issued again with the new grants: they must
		// still fit one push, or no cluster would take any key.
		if err := s.checkReissue(id, &next); err != nil {
			writeError(w, 0, err)
			return
		}
	}
	s.st.Users[id] = &next
	// What the user may do changed (or who can log in as it): the
	// tokens issued before no longer say it.
	if regrant || next.Password != old.Password {
		// A new password (the answer to a stolen one) takes the S3 keys
		// too: a key made with a stolen login would outlive it.
		s.revokeUserKeysLocked(id, next.Password != old.Password)
	}
	if err := s.save(); err != nil {
		writeError(w, 0, err)
	}
}

// isServiceAdmin reports whether a user administers the service: ADMIN,
// and for every cluster (one limited to some never passes admin).
func (s *Service) isServiceAdmin(u *User) bool {
	return u != nil && s.grants(u).Perm.Has(PermAdmin) && len(u.Clusters) == 0
}

// isLastAdmin reports whether user is the only one who administers the
// service (isServiceAdmin); mu is held.
func (s *Service) isLastAdmin(user string) bool {
	if !s.isServiceAdmin(s.st.Users[user]) {
		return false
	}
	for id, other := range s.st.Users {
		if id != user && s.isServiceAdmin(other) {
			return false
		}
	}
	return true
}

// publicUser is a user without its password hash, with the access keys
// (not the secrets) of its S3 keys.
type publicUserView struct {
	User
	S3Keys []string `json:"s3_keys,omitempty"`
}

func (s *Service) publicUser(u *User) publicUserView {
	out := publicUserView{User: *u}
	out.Password = ""
	for access, k := range s.st.S3Keys {
		if k.User == u.ID {
			out.S3Keys = append(out.S3Keys, access)
		}
	}
	slices.Sort(out.S3Keys)
	return out
}

// selfOrAdmin lets through an admin, or the user named by the path, and
// returns the caller's claims.
func (s *Service) selfOrAdmin(r *http.Request, user string) (*Claims, error) {
	c, err := s.caller(r)
	if err != nil {
		return nil, err
	}
	if c.Subject != user && !serviceAdmin(c) {
		return nil, fmt.Errorf("%w: only %q or an admin for every cluster (logged in without a cluster) may", ErrForbidden, user)
	}
	return c, nil
}

func (s *Service) handleAddS3Key(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("id")
	c, err := s.selfOrAdmin(r, user)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// The cluster the key is for, when the user may use several.
	var msg struct {
		Cluster string `json:"cluster_id"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &msg); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, 0, err)
			return
		}
	}
	// A user's token for some clusters makes a key for those only.
	var within []string
	if !serviceAdmin(c) {
		within = c.Audience
	}
	key, err := s.NewS3Key(user, within, c.ID, c.Subject, msg.Cluster)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"access_key": key.AccessKey, "secret_key": key.Secret, "user": user, "cluster_id": key.Cluster})
}

func (s *Service) handleDeleteS3Key(w http.ResponseWriter, r *http.Request) {
	access := r.PathValue("access")
	// Who asks is checked first: the answer must not tell an anonymous
	// caller which keys exist.
	if _, err := s.verifier.Verify(BearerToken(r)); err != nil {
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	s.mu.Lock()
	key := s.st.S3Keys[access]
	s.mu.Unlock()
	if key == nil {
		writeError(w, 0, fmt.Errorf("%w: S3 key %q", ErrNotFound, access))
		return
	}
	if _, err := s.selfOrAdmin(r, key.User); err != nil {
		writeError(w, 0, err)
		return
	}
	if err := s.DeleteS3Key(access); err != nil {
		writeError(w, 0, err)
	}
}

// handleGetUser shows one user to an admin, or to that user: its roles,
// and the access keys of its S3 keys (to find one to delete).
func (s *Service) handleGetUser(w http.ResponseWriter, r *http.Request) {
	if _, err := s.selfOrAdmin(r, r.PathValue("id")); err != nil {
		writeError(w, 0, err)
		return
	}
	s.handleGetUsers(w, r)
}

func (s *Service) handleGetUsers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := r.PathValue("id"); id != "" {
		u := s.st.Users[id]
		if u == nil {
			writeError(w, 0, fmt.Errorf("%w: user %q", ErrNotFound, id))
			return
		}
		writeJSON(w, http.StatusOK, s.publicUser(u))
		return
	}
	out := map[string]publicUserView{}
	for id, u := range s.st.Users {
		out[id] = s.publicUser(u)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	dropped, err := s.deleteUser(r.PathValue("id"))
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// The keys it made for others went too: named, for an admin to make
	// again those still wanted.
	writeJSON(w, http.StatusOK, map[string][]droppedKey{"dropped_s3_keys": dropped})
}

// droppedKey names an S3 key of another user that went with the user who
// made it.
type droppedKey struct {
	AccessKey string `json:"access_key"`
	User      string `json:"user"`
}

// deleteUser removes a user; its S3 keys go with it, and so do those it
// made for others (an admin's account deleted, maybe stolen: a key it
// minted must not outlive it, as with a new password), which it returns.
// Its live tokens (logins and keys) are revoked. The last admin stays.
func (s *Service) deleteUser(id string) ([]droppedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Users[id] == nil {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, id)
	}
	if s.isLastAdmin(id) {
		return nil, fmt.Errorf("%w: %q is the last admin", ErrBadRequest, id)
	}
	before := maps.Clone(s.st.S3Keys)
	delete(s.st.Users, id)
	s.revokeUserKeysLocked(id, true)
	dropped := []droppedKey{}
	for access, k := range before {
		if _, kept := s.st.S3Keys[access]; !kept && k.User != id {
			dropped = append(dropped, droppedKey{AccessKey: access, User: k.User})
		}
	}
	slices.SortFunc(dropped, func(a, b droppedKey) int { return strings.Compare(a.AccessKey, b.AccessKey) })
	return dropped, s.save()
}

func (s *Service) handleAddRole(w http.ResponseWriter, r *http.Request) {
	var role Role
	if err := decode(r, &role); err != nil {
		writeError(w, 0, err)
		return
	}
	if err := validID("role", role.ID); err != nil {
		writeError(w, 0, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := BuiltinRoles()[role.ID]; ok || s.st.Roles[role.ID] != nil {
		writeError(w, 0, fmt.Errorf("%w: role %q", ErrExists, role.ID))
		return
	}
	s.st.Roles[role.ID] = &role
	if err := s.save(); err != nil {
		writeError(w, 0, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) handleGetRoles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := BuiltinRoles()
	for id, role := range s.st.Roles {
		all[id] = *role
	}
	if id := r.PathValue("id"); id != "" {
		role, ok := all[id]
		if !ok {
			writeError(w, 0, fmt.Errorf("%w: role %q", ErrNotFound, id))
			return
		}
		writeJSON(w, http.StatusOK, role)
		return
	}
	out := make([]Role, 0, len(all))
	for _, id := range slices.Sorted(maps.Keys(all)) {
		out = append(out, all[id])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleDeleteRole(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := BuiltinRoles()[id]; ok {
		writeError(w, 0, fmt.Errorf("%w: %q is a built-in role", ErrBadRequest, id))
		return
	}
	if s.st.Roles[id] == nil {
		writeError(w, 0, fmt.Errorf("%w: role %q", ErrNotFound, id))
		return
	}
	for _, u := range s.st.Users {
		if slices.Contains(u.Roles, id) {
			writeError(w, 0, fmt.Errorf("%w: role %q is held by user %q", ErrBadRequest, id, u.ID))
			return
		}
	}
	delete(s.st.Roles, id)
	if err := s.save(); err != nil {
		writeError(w, 0, err)
	}
}

func (s *Service) handleAddCluster(w http.ResponseWriter, r *http.Request) {
	var c Cluster
	if err := decode(r, &c); err != nil {
		writeError(w, 0, err)
		return
	}
	if len(c.URLs) == 0 {
		writeError(w, 0, fmt.Errorf("%w: a cluster needs the URL of at least one gateway", ErrBadRequest))
		return
	}
	for _, u := range c.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			writeError(w, 0, fmt.Errorf("%w: gateway URL %q is not http(s)", ErrBadRequest, u))
			return
		}
	}
	// The id is the cluster's uuid: the tokens pushed to its gateways
	// name it, and they take no other.
	key := c.ID
	if key == "" {
		writeError(w, 0, fmt.Errorf("%w: a cluster needs its id, the uuid its gateways answer (ais cluster show); the alias only names it here", ErrBadRequest))
		return
	}
	if err := validID("cluster", key); err != nil {
		writeError(w, 0, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Clusters[key] = &c
	if len(s.st.Revoked) > 0 || len(s.st.S3Keys) > 0 {
		s.markDirty(key)
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if err := s.save(); err != nil {
		writeError(w, 0, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": key})
}

func (s *Service) handleGetClusters(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.st.Clusters)
}

func (s *Service) handleDeleteCluster(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Clusters[id] == nil {
		writeError(w, 0, fmt.Errorf("%w: cluster %q", ErrNotFound, id))
		return
	}
	delete(s.st.Clusters, id)
	delete(s.dirty, id)
	// The keys that worked on it alone go (revoked): they work nowhere,
	// and a cluster registered again under the id is not told of them.
	for access, k := range s.st.S3Keys {
		if k.Cluster == id {
			delete(s.st.S3Keys, access)
			s.revokeKeyLocked(k, true)
		}
	}
	s.changed()
	if err := s.save(); err != nil {
		writeError(w, 0, err)
	}
}

// handleRevoke revokes a token: an admin may revoke any, a holder its own
// (a logout).
func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var msg TokenMsg
	if err := decode(r, &msg); err != nil {
		writeError(w, 0, err)
		return
	}
	bearer := BearerToken(r)
	caller, err := s.verifier.Verify(bearer)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	if bearer != msg.Token && (!serviceAdmin(caller) || !s.loginToken(bearer, caller.Subject)) {
		writeError(w, 0, fmt.Errorf("%w: revoking another's token needs an admin's token for every cluster (logged in without a cluster)", ErrForbidden))
		return
	}
	// A logout ends a login of this service's: a token signed with its
	// keys and never issued (a node with the HS256 secret can sign) would
	// each hold one of its user's logins for as long as it claims.
	if bearer == msg.Token && !s.loginToken(bearer, caller.Subject) {
		writeError(w, 0, fmt.Errorf("%w: a logout takes a token this service issued at a login, and this one is not", ErrForbidden))
		return
	}
	// Another's token (an admin's revocation, as of one stolen) takes
	// the S3 keys made with it; the holder's own (a logout) does not.
	if err := s.Revoke(msg.Token, bearer != msg.Token); err != nil {
		writeError(w, 0, err)
	}
}
