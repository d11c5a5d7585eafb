package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
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
