package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// assetFiles are the page, its script and its style sheet.
//
//go:embed assets
var assetFiles embed.FS

// contentTypes are the types of the asset files by extension: fixed here
// rather than taken from the system's MIME tables, which vary by machine.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// securityPolicy lets the page load only its own assets and talk only to
// its own origin: were something from the server ever inserted as markup,
// no script or handler of it would run.
const securityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	data        []byte
	contentType string
	etag        string
}

// assets maps a path under Prefix ("" is the page) to its file.
var assets = loadAssets()

// loadAssets reads the embedded files once.
func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(assetFiles, "assets", func(name string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		contentType, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		data, err := assetFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[strings.TrimPrefix(name, "assets/")] = asset{data: data, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		// The files are compiled in: a failure here is a broken build.
		panic("console: read the embedded assets: " + err.Error())
	}
	out[""] = out["index.html"]
	return out
}

// Handler serves the console under Prefix; a path that names no asset
// goes to notFound (http.NotFound when nil), so that the node answers it
// as it answers any unknown path.
func Handler(notFound http.HandlerFunc) http.Handler {
	if notFound == nil {
		notFound = http.NotFound
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		file, found := assets[name]
		if !ok || !found {
			notFound(w, r)
			return
		}
		header := w.Header()
		header.Set("Content-Type", file.contentType)
		header.Set("Content-Security-Policy", securityPolicy)
		header.Set("X-Content-Type-Options", "nosniff")
		header.Set("Referrer-Policy", "no-referrer")
		// Revalidated every time, so that a new binary's page is never
		// mixed with an old script from the cache.
		header.Set("Cache-Control", "no-cache")
		header.Set("ETag", file.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(file.data))
	})
}

// Public reports a request for what the login page itself uses (its
// style), which is served before a login. A proxy request (an absolute
// URL, a CONNECT) of that path is another host's, never public.
func Public(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && !r.URL.IsAbs() && r.URL.Path == Prefix+"style.css"
}

// Static reports a read of one of the console's files: the same bytes
// of the binary for anyone, with no data of the cluster in them.
func Static(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.URL.IsAbs() {
		return false
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	_, found := assets[name]
	return ok && found
}

// LoginPath is where the login form posts a token (with auth on): the
// console's own path, by POST.
const LoginPath = Prefix

// LogoutPath is where the console's Log out sends a DELETE: it ends the
// cookie.
const LogoutPath = Prefix

// SessionPath answers who the console is logged in as.
const SessionPath = Prefix + "session"

// APIPrefix is where the console's page calls the REST API: a call of
// APIPrefix+"v1/buckets" is GET /v1/buckets with the cookie's token.
// The cookie is HttpOnly, so no script of the page ever holds the token,
// and its path is the console's, so the API itself never takes it.
const APIPrefix = Prefix + "api/"

// CallHeader is on every call the console's page makes: a change through
// APIPrefix needs it, which no form of another site can send.
const CallHeader = "AIS-Console"

// TokenCookie carries the console's token: the browser sends it when it
// loads the console's files and calls APIPrefix (SameSite=Strict,
// HttpOnly).
const TokenCookie = "ais_token"

// loginPolicy lets the login page post its form to this origin only.
const loginPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// WriteLogin answers a request for the console that has no valid token:
// the status (401 or 403) with a form to paste a token into.
func WriteLogin(w http.ResponseWriter, status int, message string) {
	header := w.Header()
	header.Set("Content-Type", "text/html; charset=utf-8")
	header.Set("Content-Security-Policy", loginPolicy)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>AIS-Go: log in</title>` +
		`<link rel="stylesheet" href="` + Prefix + `style.css"></head><body><main><h1>AIS-Go</h1>` +
		`<p>This cluster checks user tokens. Paste yours (<code>ais auth login NAME -p PASS</code> keeps it in ` +
		`<code>~/.config/ais/cli/auth.token</code>).</p><p class="error">`)
	b.WriteString(html.EscapeString(message))
	b.WriteString(`</p><form method="post" action="` + LoginPath + `"><textarea name="token" rows="6" cols="80" required></textarea>` +
		`<p><button type="submit">Log in</button></p></form></main></body></html>`)
	io.WriteString(w, b.String())
}

// maxCookie is the most a cookie's name and value may hold for every
// browser to keep it (they drop a larger one without a word).
const maxCookie = 4000

// CheckTokenSize refuses a token too large for a browser's cookie (one
// that carries many buckets' grants): the login would seem to do nothing.
func CheckTokenSize(token string) error {
	if n := len(TokenCookie) + 1 + len(token); n > maxCookie {
		return fmt.Errorf("this token is %d bytes: a browser keeps a cookie of at most %d, and would drop it. Its grants name many buckets: grant them through a role or the cluster's permission, or use the CLI with this token", len(token), maxCookie-len(TokenCookie)-1)
	}
	return nil
}

// SetToken keeps a verified token in the console's cookie until it
// expires, and sends the browser to the console.
func SetToken(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	// Its path is the console's: no page elsewhere on this origin (an
	// object served by the S3 API) sees it.
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: Prefix, Expires: expires,
		Secure: overTLS(r), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// EndToken removes the console's cookie (Log out).
func EndToken(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: Prefix, MaxAge: -1,
		Secure: overTLS(r), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// overTLS reports a request that reached the browser's side over TLS:
// here, or at a proxy in front that says so. Believing a forged header
// only makes the cookie stricter.
func overTLS(r *http.Request) bool {
	// Behind a chain of proxies, the first hop's (the browser's) is first.
	first := func(header string) string {
		v, _, _ := strings.Cut(r.Header.Get(header), ",")
		return strings.TrimSpace(v)
	}
	if r.TLS != nil || strings.EqualFold(first("X-Forwarded-Proto"), "https") {
		return true
	}
	for _, part := range strings.Split(first("Forwarded"), ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "proto") && strings.EqualFold(strings.Trim(v, `"`), "https") {
			return true
		}
	}
	return false
}
