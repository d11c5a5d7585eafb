package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/benchmarks"
)

// fakeGrafana answers POST /api/dashboards/db as Grafana does and keeps
// what it was sent.
type fakeGrafana struct {
	t        *testing.T
	status   int
	requests int
	auth     string
	body     struct {
		Dashboard map[string]any `json:"dashboard"`
		Overwrite bool           `json:"overwrite"`
		FolderUID string         `json:"folderUid"`
		Message   string         `json:"message"`
	}
}

func (f *fakeGrafana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests++
	if r.Method != http.MethodPost || r.URL.Path != "/api/dashboards/db" {
		f.t.Errorf("request %s %s, want POST /api/dashboards/db", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("content type %q", ct)
	}
	f.auth = r.Header.Get("Authorization")
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &f.body); err != nil {
		f.t.Errorf("body is not JSON: %v", err)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		io.WriteString(w, `{"message":"invalid API key"}`)
		return
	}
	io.WriteString(w, `{"id":12,"uid":"aisgo-overview","url":"/d/aisgo-overview/ais-go","status":"success","version":3,"slug":"ais-go"}`)
}

func runAis(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestDashboardPush(t *testing.T) {
	fake := &fakeGrafana{t: t}
	server := httptest.NewServer(fake)
	defer server.Close()
	out, err := runAis(t, "dashboard", "push", "--grafana", server.URL, "--token", "secret-token", "--folder", "f1")
	if err != nil {
		t.Fatal(err)
	}
	if fake.requests != 1 || fake.auth != "Bearer secret-token" {
		t.Fatalf("%d requests, authorization %q", fake.requests, fake.auth)
	}
	if !fake.body.Overwrite || fake.body.FolderUID != "f1" || fake.body.Dashboard["uid"] != benchmarks.GrafanaDashboardUID {
		t.Fatalf("overwrite %v, folder %q, uid %v", fake.body.Overwrite, fake.body.FolderUID, fake.body.Dashboard["uid"])
	}
	panels, _ := fake.body.Dashboard["panels"].([]any)
	var want map[string]any
	json.Unmarshal(benchmarks.GrafanaDashboard(), &want)
	if len(panels) == 0 || len(panels) != len(want["panels"].([]any)) {
		t.Fatalf("pushed %d panels", len(panels))
	}
	if want := "pushed dashboard aisgo-overview, version 3: " + server.URL + "/d/aisgo-overview/ais-go\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

func TestDashboardPushErrors(t *testing.T) {
	fake := &fakeGrafana{t: t, status: http.StatusUnauthorized}
	server := httptest.NewServer(fake)
	defer server.Close()
	t.Setenv("GRAFANA_URL", "")
	t.Setenv("GRAFANA_TOKEN", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refused token", []string{"--grafana", server.URL, "--token", "bad"}, "status: 401"},
		{"no URL", []string{"--token", "t"}, "--grafana or GRAFANA_URL"},
		{"no credentials", []string{"--grafana", server.URL}, "--token or GRAFANA_TOKEN"},
		{"bad user", []string{"--grafana", server.URL, "--user", "admin"}, "want NAME:PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runAis(t, append([]string{"dashboard", "push"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if fake.requests != 1 {
		t.Fatalf("%d requests reached Grafana, want only the refused one", fake.requests)
	}
}

// The environment stands in for the flags; basic authentication works.
func TestDashboardPushFromEnvironment(t *testing.T) {
	fake := &fakeGrafana{t: t}
	server := httptest.NewServer(fake)
	defer server.Close()
	t.Setenv("GRAFANA_URL", server.URL)
	t.Setenv("GRAFANA_TOKEN", "")
	if _, err := runAis(t, "dashboard", "push", "--user", "admin:pw"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fake.auth, "Basic ") {
		t.Fatalf("authorization %q", fake.auth)
	}
}

func TestDashboardShow(t *testing.T) {
	out, err := runAis(t, "dashboard", "show")
	if err != nil || out != string(benchmarks.GrafanaDashboard()) {
		t.Fatalf("err %v, %d bytes", err, len(out))
	}
}

// --user is sent as given, a GRAFANA_TOKEN in the environment left
// unread (its Bearer header made Go's client drop the password); --token
// with --user is refused.
func TestDashboardPushUserOverEnvironmentToken(t *testing.T) {
	fake := &fakeGrafana{t: t}
	server := httptest.NewServer(fake)
	defer server.Close()
	t.Setenv("GRAFANA_URL", server.URL)
	t.Setenv("GRAFANA_TOKEN", "env-token")
	if _, err := runAis(t, "dashboard", "push", "--user", "admin:pw"); err != nil {
		t.Fatal(err)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pw")); fake.auth != want {
		t.Fatalf("authorization %q, want %q", fake.auth, want)
	}
	_, err := runAis(t, "dashboard", "push", "--user", "admin:pw", "--token", "t")
	if err == nil || !strings.Contains(err.Error(), "--token and --user") {
		t.Fatalf("--token with --user: %v", err)
	}
	if fake.requests != 1 {
		t.Fatalf("%d requests reached Grafana, want 1", fake.requests)
	}
}
