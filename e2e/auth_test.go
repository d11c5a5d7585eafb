//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/internal/selfsigned"
)

// authUser runs the CLI as one user: its own token file, the cluster's
// AuthN service.
type authUser struct {
	t         *testing.T
	endpoint  string
	authnURL  string
	tokenFile string
	// ca is the CA file of an HTTPS cluster.
	ca string
	// stdin is what the commands read on stdin.
	stdin string
}

// withStdin is the user with commands reading input on stdin.
func (u *authUser) withStdin(input string) *authUser {
	c := *u
	c.stdin = input
	return &c
}

func (u *authUser) run(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(binDir, "ais"), args...)
	cmd.Env = append(os.Environ(), "AIS_ENDPOINT="+u.endpoint, "AIS_AUTHN_URL="+u.authnURL,
		"AIS_AUTHN_TOKEN_FILE="+u.tokenFile, "AIS_AUTHN_TOKEN=", "AIS_CLIENT_CA="+u.ca)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(u.stdin)
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (u *authUser) must(args ...string) string {
	u.t.Helper()
	out, errOut, err := u.run(args...)
	if err != nil {
		u.t.Fatalf("ais %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// refused runs a command that must fail and returns its stderr.
func (u *authUser) refused(args ...string) string {
	u.t.Helper()
	out, errOut, err := u.run(args...)
	if err == nil {
		u.t.Fatalf("ais %s succeeded: %s", strings.Join(args, " "), out)
	}
	return errOut
}

func (u *authUser) token() string {
	u.t.Helper()
	data, err := os.ReadFile(u.tokenFile)
	if err != nil {
		u.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// startAuthCluster runs `ais cluster start --auth` (an AuthN service
// beside 1 gateway and 3 targets), with extra start flags (TLS), and
// returns the admin (not logged in), a maker of users and the endpoint.
func startAuthCluster(t *testing.T, dir string, flags ...string) (*authUser, func(string) *authUser, string) {
	port := freePortRange(t, 8)
	scheme, ca := "http", ""
	for i, f := range flags {
		if f == "--tls-cert" {
			scheme, ca = "https", flags[i+1]
		}
	}
	endpoint := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	admin := &authUser{t: t, endpoint: endpoint, tokenFile: filepath.Join(dir, "admin.token"), ca: ca}
	args := append([]string{"cluster", "start", "--auth", "--gateways", "1", "--targets", "3",
		"--dir", filepath.Join(dir, "cluster"), "--port", strconv.Itoa(port), "--no-sync", "--aisnode", filepath.Join(binDir, "aisnode")}, flags...)
	cmd := exec.Command(filepath.Join(binDir, "ais"), args...)
	cmd.Env = append(os.Environ(), "AIS_AUTHN_SU_NAME=admin", "AIS_AUTHN_SU_PASS=admin-pass", "AIS_AUTHN_TOKEN_FILE="+admin.tokenFile, "AIS_AUTHN_TOKEN=")
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() { aisResult(endpoint, "cluster", "stop", "--dir", filepath.Join(dir, "cluster")) })
	if err != nil {
		t.Fatalf("ais cluster start --auth: %v\n%s", err, out)
	}
	// Its output lands in logs: the login it shows reads the password.
	if strings.Contains(string(out), "admin-pass") || !strings.Contains(string(out), "--password-stdin") {
		t.Fatalf("ais cluster start --auth shows the admin's password, or no login that reads it:\n%s", out)
	}
	m := regexp.MustCompile(`AuthN.*(` + scheme + `://127\.0\.0\.1:\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("ais cluster start --auth does not print the AuthN endpoint:\n%s", out)
	}
	admin.authnURL = string(m[1])
	user := func(name string) *authUser {
		return &authUser{t: t, endpoint: endpoint, authnURL: admin.authnURL, tokenFile: filepath.Join(dir, name+".token"), ca: ca}
	}
	return admin, user, endpoint
}

// TestAuthHTTPS: the same AuthN service and cluster over HTTPS with a
// self-signed certificate: logins, the permissions, a revocation.
func TestAuthHTTPS(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := selfsigned.Write(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin, user, _ := startAuthCluster(t, dir, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(admin.authnURL, "https://") {
		t.Fatalf("the AuthN service of an HTTPS cluster at %s", admin.authnURL)
	}
	reader := user("reader")
	admin.must("auth", "login", "admin", "-p", "admin-pass")
	admin.must("auth", "add", "user", "reader", "-p", "reader-pass", "--role", "read-only")
	reader.must("auth", "login", "reader", "-p", "reader-pass")
	admin.must("bucket", "create", "ais://b")
	src := filepath.Join(dir, "obj")
	os.WriteFile(src, []byte("over tls"), 0o644)
	admin.must("put", src, "ais://b/o")
	if out := reader.must("get", "ais://b/o", "-"); out != "over tls" {
		t.Fatalf("read-only GET over HTTPS: %q", out)
	}
	if msg := reader.refused("put", src, "ais://b/p"); !strings.Contains(msg, "403") {
		t.Fatalf("read-only PUT over HTTPS: %s", msg)
	}
	// Without trusting the certificate the CLI refuses the cluster.
	untrusted := *reader
	untrusted.ca = ""
	if msg := untrusted.refused("ls", "ais://b"); !strings.Contains(msg, "certificate") {
		t.Fatalf("an untrusted certificate: %s", msg)
	}
	// From stdin: kept out of the process list.
	revoker := *admin
	revoker.stdin = reader.token() + "\n"
	revoker.must("auth", "revoke", "-")
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, msg, err := reader.run("ls", "ais://b")
		if err != nil && strings.Contains(msg, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still works over HTTPS: %v %s", err, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The AuthN service dead while every node runs: a start brings it
	// back (no login would work without it), not "already runs".
	var state struct {
		AuthN struct {
			PID int `json:"pid"`
		} `json:"authn"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "cluster", "cluster.json"))
	if err != nil || json.Unmarshal(data, &state) != nil || state.AuthN.PID <= 0 {
		t.Fatalf("the AuthN service's pid in cluster.json: %v %s", err, data)
	}
	if err := syscall.Kill(state.AuthN.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the AuthN service: %v", err)
	}
	waitDead(t, "the AuthN service", state.AuthN.PID)
	restart := exec.Command(filepath.Join(binDir, "ais"), "cluster", "start", "--dir", filepath.Join(dir, "cluster"), "--aisnode", filepath.Join(binDir, "aisnode"))
	restart.Env = append(os.Environ(), "AIS_AUTHN_SU_NAME=admin", "AIS_AUTHN_SU_PASS=admin-pass", "AIS_AUTHN_TOKEN_FILE="+admin.tokenFile, "AIS_AUTHN_TOKEN=")
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("ais cluster start with its AuthN service dead: %v\n%s", err, out)
	}
	admin.must("auth", "login", "admin", "-p", "admin-pass")
}

// TestAuth runs `ais cluster start --auth` (an AuthN service beside 1
// gateway and 3 targets) and works through it as users do: nothing
// without a login; an admin adds users; a bucket owner creates buckets,
// writes objects and runs a dSort job; a read-only user reads but cannot
// write; a revoked token is refused by every node within a metadata
// round; an admin token opens no intra-cluster route.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	admin, user, endpoint := startAuthCluster(t, dir)
	owner, reader := user("owner"), user("reader")

	// Nothing without a token.
	if msg := owner.refused("ls"); !strings.Contains(msg, "401") && !strings.Contains(strings.ToLower(msg), "token") {
		t.Fatalf("ais ls without a login: %s", msg)
	}
	admin.must("auth", "login", "admin", "-p", "admin-pass")
	// Registered by its gateway's URL, the cluster is known by its uuid,
	// read from the gateway (its gateways take pushes naming it only).
	if out := admin.must("auth", "add", "cluster", endpoint, "--alias", "e2e"); !regexp.MustCompile(`Registered cluster [0-9a-f]{16}\b`).MatchString(out) {
		t.Fatalf("ais auth add cluster without --id: %s", out)
	}
	// The password on stdin keeps it out of the process list.
	admin.withStdin("owner-pass\n").must("auth", "add", "user", "owner", "--password-stdin", "--role", "bucket-owner")
	admin.must("auth", "add", "user", "reader", "-p", "reader-pass", "--role", "read-only")
	if msg := owner.refused("auth", "login", "owner", "-p", "wrong"); !strings.Contains(msg, "401") {
		t.Fatalf("a wrong password: %s", msg)
	}
	if msg := owner.refused("auth", "login", "owner"); !strings.Contains(msg, "password is required") {
		t.Fatalf("a login with no password and no terminal: %s", msg)
	}
	owner.withStdin("owner-pass\n").must("auth", "login", "owner", "--password-stdin")
	reader.must("auth", "login", "reader", "-p", "reader-pass")

	// The bucket owner's work: buckets, objects, a dSort job.
	owner.must("bucket", "create", "ais://src")
	owner.must("archive", "gen-shards", "ais://src/in-{00..05}.tar", "--records", "20", "--record-size", "4KiB", "--exts", ".jpg,.cls")
	spec := filepath.Join(dir, "spec.json")
	os.WriteFile(spec, []byte(`{"input_bck":{"name":"src"},"output_bck":{"name":"dst"},"input_format":{"template":"in-{00..05}.tar"},
		"output_format":"out-{000..999}.tar","output_shard_size":"100KiB","algorithm":{"kind":"shuffle","seed":"7"}}`), 0o644)
	owner.must("dsort", "start", spec, "--wait")
	listing := owner.must("ls", "ais://dst")
	if !strings.Contains(listing, "out-000.tar") {
		t.Fatalf("dSort output under the owner's token:\n%s", listing)
	}
	src := filepath.Join(dir, "obj")
	os.WriteFile(src, []byte("hello"), 0o644)
	owner.must("put", src, "ais://src/hello")

	// The read-only user reads, and cannot write.
	got := filepath.Join(dir, "got")
	reader.must("get", "ais://src/hello", got)
	if data, _ := os.ReadFile(got); string(data) != "hello" {
		t.Fatalf("read-only GET: %q", data)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the file ais get wrote: %v %v, want mode 0644", fi.Mode(), err)
	}
	if fi, err := os.Stat(reader.tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the token file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if msg := reader.refused("put", src, "ais://src/nope"); !strings.Contains(msg, "403") || !strings.Contains(msg, "PUT") {
		t.Fatalf("read-only PUT: %s", msg)
	}
	if msg := reader.refused("bucket", "create", "ais://mine"); !strings.Contains(msg, "CREATE-BUCKET") {
		t.Fatalf("read-only bucket create: %s", msg)
	}

	// S3 clients send the token as their session token (awscli).
	awsWith := func(token string, args ...string) (string, error) {
		env := append(clientEnv(dir), "AWS_SESSION_TOKEN="+token)
		cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", endpoint + "/s3"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := awsWith(reader.token(), "s3", "cp", "s3://src/hello", "-"); err != nil || out != "hello" {
		t.Fatalf("aws s3 cp with the reader's session token: %v %q", err, out)
	}
	if out, err := awsWith(reader.token(), "s3", "cp", src, "s3://src/by-s3"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("aws s3 cp (PUT) with a read-only token: %v %s", err, out)
	}
	if out, err := awsWith(owner.token(), "s3", "cp", src, "s3://src/by-s3"); err != nil {
		t.Fatalf("aws s3 cp (PUT) with the owner's token: %v %s", err, out)
	}
	if out, err := awsWith("", "s3", "ls", "s3://src"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("aws s3 ls without a token: %v %s", err, out)
	}

	// A user's S3 key: awscli signs with it (no session token) and acts
	// as the user; a deleted key is refused.
	created := admin.must("auth", "add", "s3-key", "reader")
	access := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(created)
	secret := regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(created)
	if access == nil || secret == nil || !strings.Contains(created, "for cluster ") {
		t.Fatalf("ais auth add s3-key: %s (want the key, for the one cluster registered)", created)
	}
	awsKey := func(access, secret string, args ...string) (string, error) {
		cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", endpoint + "/s3"}, args...)...)
		cmd.Env = append(clientEnv(dir), "AWS_ACCESS_KEY_ID="+access, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_SESSION_TOKEN=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	until(t, 10*time.Second, "the reader's S3 key reaches the gateway", func() bool {
		out, err := awsKey(access[1], secret[1], "s3", "cp", "s3://src/hello", "-")
		return err == nil && out == "hello"
	})
	if out, err := awsKey(access[1], secret[1], "s3", "cp", src, "s3://src/by-key"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("a PUT signed with a read-only user's key: %v %s", err, out)
	}
	if out, err := awsKey(access[1], "wrong-secret-0123456789", "s3", "ls", "s3://src"); err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Fatalf("a wrong secret: %v %s", err, out)
	}
	admin.must("auth", "rm", "s3-key", access[1])
	until(t, 10*time.Second, "a deleted S3 key refused", func() bool {
		_, err := awsKey(access[1], secret[1], "s3", "ls", "s3://src")
		return err != nil
	})

	// The console: a browser without a token gets the login form; the
	// form keeps a valid token in the console's cookie, which opens the
	// console's files and nothing else.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(cookie string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, endpoint+"/console/", nil)
		req.Header.Set("Accept", "text/html")
		if cookie != "" {
			req.Header.Set("Cookie", "ais_token="+cookie)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := page(""); status != http.StatusUnauthorized || !strings.Contains(body, "<form") {
		t.Fatalf("the console without a token: %d %.200s", status, body)
	}
	login := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, endpoint+"/console/", strings.NewReader(url.Values{"token": {reader.token()}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login("http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a console login from another origin: %d", resp.StatusCode)
	}
	resp := login(endpoint)
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "ais_token" && c.SameSite == http.SameSiteStrictMode {
			cookie = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("the console's login: %d, cookie %q", resp.StatusCode, cookie)
	}
	if status, body := page(cookie); status != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Fatalf("the console with its cookie: %d", status)
	}
	req, _ := http.NewRequest(http.MethodGet, endpoint+"/v1/buckets", nil)
	req.Header.Set("Cookie", "ais_token="+cookie)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the API with only the console's cookie: %v %v", resp.StatusCode, err)
	}

	// A target's preStop hook: maintenance signed with the cluster secret,
	// no user token.
	nobody := user("nobody")
	secretFile := filepath.Join(dir, "cluster", "cluster-secret")
	if msg := nobody.refused("cluster", "maintenance", "start", "t2"); !strings.Contains(msg, "401") && !strings.Contains(strings.ToLower(msg), "token") {
		t.Fatalf("maintenance without a token or the secret: %s", msg)
	}
	if out := nobody.must("cluster", "maintenance", "start", "t2", "--wait-rebalance", "--secret-file", secretFile); !strings.Contains(out, "rebalance done") {
		t.Fatalf("maintenance signed with the cluster secret: %s", out)
	}
	nobody.must("cluster", "maintenance", "stop", "t2", "--wait-rebalance", "--secret-file", secretFile)
	wrongSecret := filepath.Join(dir, "wrong-secret")
	os.WriteFile(wrongSecret, []byte(strings.Repeat("ab", 32)), 0o600)
	if msg := nobody.refused("cluster", "maintenance", "start", "t2", "--secret-file", wrongSecret); !strings.Contains(msg, "401") {
		t.Fatalf("maintenance signed with another secret: %s", msg)
	}

	// An admin token opens no intra-cluster route.
	client := api.NewClient(endpoint).SetToken(admin.token())
	smap, err := client.Map(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, n := range smap.Nodes {
		if n.Role.IsTarget() {
			targets = append(targets, n.URL)
		}
	}
	for _, path := range []string{"/v1/internal/status", "/v1/sort/stats"} {
		req, _ := http.NewRequest(http.MethodGet, targets[0]+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin.token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("an admin token on the intra route %s: %d, want 401", path, resp.StatusCode)
		}
	}

	// A revoked token: the AuthN service pushes it to the gateway, whose
	// next metadata round reaches every target.
	victim := owner.token()
	admin.must("auth", "revoke", victim)
	start := time.Now()
	for _, url := range append([]string{endpoint}, targets...) {
		for {
			req, _ := http.NewRequest(http.MethodGet, url+"/v1/daemon?what=snode", nil)
			req.Header.Set("Authorization", "Bearer "+victim)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("%s still takes a revoked token after %s", url, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("the revoked token was refused by the gateway and the 3 targets %s after the revocation", time.Since(start).Round(time.Millisecond))
	if msg := owner.refused("ls", "ais://src"); !strings.Contains(msg, "revoked") {
		t.Fatalf("the owner after the revocation: %s", msg)
	}
	// The reader's token still works, and a new login of the owner too.
	reader.must("ls", "ais://src")
	owner.must("auth", "login", "owner", "-p", "owner-pass")
	owner.must("ls", "ais://src")
	owner.must("auth", "logout")
	if msg := owner.refused("ls", "ais://src"); !strings.Contains(msg, "401") && !strings.Contains(strings.ToLower(msg), "token") {
		t.Fatalf("after logout: %s", msg)
	}
}
