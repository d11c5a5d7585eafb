package aisgo_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/aisgo/aisgo"

// allowed maps a project package (relative to the module) to the project
// packages it may import. Packages absent from the map may import nothing of
// the project unless they match a wildcard rule below. The layering is policy
// (see STYLE.md): never relax a rule to fix a build.
var allowed = map[string][]string{
	"formats":                 {},
	"cluster":                 {},
	"store":                   {},
	"shards":                  {},
	"sort":                    {"shards"},
	"extract":                 {"shards", "formats", "store"},
	"creation":                {"shards", "formats", "store"},
	"pipeline":                {"extract", "sort", "creation", "shards", "formats", "store", "cluster"},
	"pipeline/reference":      {"pipeline", "extract", "sort", "creation", "shards", "formats", "store", "cluster"},
	"api":                     {"shards", "cluster", "cluster/membership", "store"},
	"cluster/rebalance":       {"cluster", "store"},
	"cluster/membership":      {"cluster", "store", "shards"}, // shards: a leaf; its size parser checks the config as a spec
	"cluster/membership/raft": {"cluster", "cluster/membership", "store"},
	"authn":                   {},
	"gateway":                 {"authn", "gateway/s3", "gateway/s3/sigv4", "pipeline", "shards", "formats", "store", "cluster", "cluster/membership", "cluster/membership/raft", "cluster/rebalance", "api", "gateway/peer", "gateway/console"},
	"gateway/s3":              {"api", "store", "gateway/s3/sigv4"},
	"gateway/s3/sigv4":        {},
	"gateway/console":         {},
	"gateway/peer":            {"api", "cluster", "cluster/membership", "cluster/rebalance", "pipeline", "shards", "store"},
	"gateway/gatewaytest":     {"gateway", "gateway/peer", "cluster/membership", "pipeline", "shards", "formats", "store", "store/fs", "store/ec", "cluster", "api"},
	"datasets":                {"formats", "shards"},
	"store/fs":                {"store"},
	"store/storetest":         {"store"},
	"store/faulty":            {"store"},
	"store/dryrun":            {"store"},
	// Decorators wrap store.Store; the EC one places parts by the cluster
	// map. (Mirror copies are on one target's mountpaths: store/fs.)
	"store/ec":        {"store", "cluster"},
	"store/remote":    {"store"},
	"store/remote/s3": {"store", "store/remote"},
	"store/remote/ht": {"store", "store/remote"},
	"internal/pool":   {},
	// Kubernetes manifests and their test, which imports k8s.io only.
	"deploy/k8s": {},
}

// wildcard packages may import any project package.
var wildcard = []string{"cmd/", "benchmarks", "e2e"}

var forbiddenNames = []string{"util", "utils", "common", "cmn", "cos", "misc", "helpers"}

type listedPackage struct {
	Dir          string
	GoFiles      []string
	ImportPath   string
	Name         string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func relative(importPath string) (string, bool) {
	if importPath == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return rel, ok
}

func isWildcard(rel string) bool {
	for _, w := range wildcard {
		if rel == strings.TrimSuffix(w, "/") || strings.HasPrefix(rel, w) {
			return true
		}
	}
	return false
}

// isInternal reports whether rel is an internal helper package, which any
// package may import as long as the helper itself imports no project code.
func isInternal(rel string) bool { return strings.HasPrefix(rel, "internal/") }

func TestDependencyRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel, ok := relative(p.ImportPath)
		if !ok || rel == "" || isWildcard(rel) {
			continue
		}
		rules, known := allowed[rel]
		if isInternal(rel) && !known {
			known = true // an internal helper imports no project package
		}
		if !known {
			t.Errorf("package %s has no entry in deps_test.go: add its allowed imports", rel)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := relative(imp)
			if !ok {
				continue
			}
			if isInternal(dep) && !isInternal(rel) {
				continue
			}
			if !slices.Contains(rules, dep) {
				t.Errorf("%s imports %s, which the layering forbids", rel, dep)
			}
		}
	}
}

func TestNoGrabBagPackages(t *testing.T) {
	for _, p := range listPackages(t) {
		if slices.Contains(forbiddenNames, p.Name) || slices.Contains(forbiddenNames, path.Base(p.ImportPath)) {
			t.Errorf("package %s has a grab-bag name; put helpers next to their caller", p.ImportPath)
		}
	}
}

// TestNegativeRules states the named prohibitions of STYLE.md.
func TestNegativeRules(t *testing.T) {
	pkgs := listPackages(t)
	// store/remote/ht and store/remote/s3 are HTTP clients of origins and
	// of S3 endpoints, as DESIGN.md allows remote backends; internal/egress
	// is how those clients and the downloader's reach out (proxy, dials);
	// internal/bodyend checks the end of their answers.
	httpServerUsers := []string{"authn", "gateway", "api", "store/download", "store/remote/ht", "store/remote/s3", "internal/egress", "internal/bodyend", "benchmarks", "e2e"}
	for _, p := range pkgs {
		rel, ok := relative(p.ImportPath)
		if !ok || rel == "" {
			continue
		}
		top := strings.Split(rel, "/")[0]
		for _, imp := range p.Imports {
			if imp == "net/http" || strings.HasPrefix(imp, "net/http/") {
				if top != "cmd" && !slices.Contains(httpServerUsers, rel) && !strings.HasPrefix(rel, "gateway/") {
					t.Errorf("%s imports %s: only gateway, api, cmd and benchmarks speak HTTP", rel, imp)
				}
			}
			dep, ok := relative(imp)
			if !ok {
				continue
			}
			if rel == "sort" && imp != module+"/shards" {
				t.Errorf("sort imports %s: sort is pure and sees only shards", imp)
			}
			nonTestOnly := dep == "datasets" || dep == "benchmarks" || dep == "pipeline/reference" || strings.HasSuffix(dep, "test")
			if nonTestOnly && top != "cmd" && top != "benchmarks" && top != "e2e" && !strings.HasSuffix(rel, "test") {
				t.Errorf("%s imports %s, which only tests, benchmarks and cmd may use", rel, dep)
			}
			if strings.HasPrefix(dep, "store/") && top != "cmd" && top != "benchmarks" && top != "e2e" && !strings.HasSuffix(rel, "test") && !strings.HasPrefix(rel, "store/") {
				t.Errorf("%s imports the store implementation %s; depend on store.Store", rel, dep)
			}
		}
		if rel == "sort" {
			for _, imp := range p.Imports {
				if imp == "os" || strings.HasPrefix(imp, "net") {
					t.Errorf("sort imports %s: sort does no I/O", imp)
				}
			}
		}
	}
}

// fileOperationExempt lists the packages that may call os.RemoveAll,
// os.Rename and os.MkdirAll directly: the confining helpers themselves,
// and tools that write where their user points them.
var fileOperationExempt = []string{"internal/pathsafe", "internal/atomicfile", "cmd/", "benchmarks", "e2e", "datasets"}

// TestFileOperationsAreConfined: every removal, rename and mkdir of a
// node's data goes through internal/pathsafe, which refuses a path
// outside the root the caller names.
func TestFileOperationsAreConfined(t *testing.T) {
	unsafe := regexp.MustCompile(`\bos\.(RemoveAll|Rename|MkdirAll)\(`)
	for _, p := range listPackages(t) {
		rel, ok := relative(p.ImportPath)
		if !ok || slices.ContainsFunc(fileOperationExempt, func(e string) bool { return rel == strings.TrimSuffix(e, "/") || strings.HasPrefix(rel, e) }) {
			continue
		}
		for _, file := range p.GoFiles {
			data, err := os.ReadFile(filepath.Join(p.Dir, file))
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(data), "\n") {
				if unsafe.MatchString(line) {
					t.Errorf("%s/%s:%d calls %s directly: use internal/pathsafe", rel, file, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
}

// TestErrorsKeepCauses (STYLE H3, H8): an error passed to fmt.Errorf is
// wrapped with %w, never flattened with %v or %s, so that errors.Is works
// across layers; and no context.Background() below cmd/: a context comes
// from the caller.
func TestErrorsKeepCauses(t *testing.T) {
	errName := regexp.MustCompile(`(?i)err$`)
	for _, p := range listPackages(t) {
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		for _, file := range p.GoFiles {
			path := filepath.Join(p.Dir, file)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(node ast.Node) bool {
				call, ok := node.(*ast.CallExpr)
				if !ok {
					return true
				}
				fn, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := fn.X.(*ast.Ident)
				if !ok {
					return true
				}
				switch {
				case pkg.Name == "context" && (fn.Sel.Name == "Background" || fn.Sel.Name == "TODO") && !strings.HasPrefix(rel, "cmd/"):
					t.Errorf("%s: context.%s() below cmd/: take the caller's context", fset.Position(call.Pos()), fn.Sel.Name)
				case pkg.Name == "fmt" && fn.Sel.Name == "Errorf" && len(call.Args) > 1:
					format, ok := call.Args[0].(*ast.BasicLit)
					if !ok || strings.Contains(format.Value, "%w") {
						return true
					}
					for _, arg := range call.Args[1:] {
						if id, ok := arg.(*ast.Ident); ok && errName.MatchString(id.Name) {
							t.Errorf("%s: fmt.Errorf flattens %s: wrap it with %%w", fset.Position(call.Pos()), id.Name)
						}
					}
				}
				return true
			})
		}
	}
}
