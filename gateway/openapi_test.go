package gateway_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/aisgo/aisgo/gateway"
)

// The OpenAPI description of the public API (openapi/openapi.yaml) must not
// drift from what the node serves: these tests compare it with the route
// table and with the query parameters of the api package.

// specFile is the OpenAPI description, from the package directory where
// go test runs.
const specFile = "../openapi/openapi.yaml"

// apiDir holds the api package, whose Query* constants are the query
// parameters of the native API.
const apiDir = "../api"

// s3Prefix starts the paths of the S3 API, a protocol of its own: its query
// parameters are S3's, and its responses S3's XML.
const s3Prefix = "/s3"

// s3Operations are the paths and methods the S3 server answers. It routes
// by hand rather than through the route table (gateway/s3/server.go:
// serve, serveBucket, serveObject), so they are listed here; keep them in
// step with it.
var s3Operations = map[string][]string{
	"/s3":                {"GET"},
	"/s3/{bucket}":       {"GET", "HEAD", "PUT", "DELETE", "POST"},
	"/s3/{bucket}/{key}": {"GET", "HEAD", "PUT", "DELETE", "POST"},
}

// privateQueries are Query* constants of the api package that are
// deliberately not documented, with the reason. None today: the redirect
// markers (pid, utm, smv) are documented on the object routes because
// clients see them in every Location.
var privateQueries = map[string]string{}

// literalQueries are query parameters the public handlers read with a
// string literal instead of an api constant, documented all the same.
// None today: the literals in the gateway (`index`, `stamp`, `cause`) are
// read only on intra-cluster routes.
var literalQueries = map[string]string{}

// specDocument is the part of an OpenAPI document the tests read.
type specDocument struct {
	OpenAPI    string                  `yaml:"openapi"`
	Paths      map[string]specPathItem `yaml:"paths"`
	Components struct {
		Parameters map[string]specParameter `yaml:"parameters"`
		Responses  map[string]specResponse  `yaml:"responses"`
	} `yaml:"components"`
}

// specPathItem is one path: its shared parameters and its operations.
type specPathItem struct {
	Parameters []specParameter `yaml:"parameters"`
	Get        *specOperation  `yaml:"get"`
	Head       *specOperation  `yaml:"head"`
	Put        *specOperation  `yaml:"put"`
	Post       *specOperation  `yaml:"post"`
	Delete     *specOperation  `yaml:"delete"`
	Patch      *specOperation  `yaml:"patch"`
	Options    *specOperation  `yaml:"options"`
	Trace      *specOperation  `yaml:"trace"`
}

// operations maps each method the path documents to its operation.
func (item specPathItem) operations() map[string]*specOperation {
	out := map[string]*specOperation{}
	for method, operation := range map[string]*specOperation{
		"GET": item.Get, "HEAD": item.Head, "PUT": item.Put, "POST": item.Post,
		"DELETE": item.Delete, "PATCH": item.Patch, "OPTIONS": item.Options, "TRACE": item.Trace,
	} {
		if operation != nil {
			out[method] = operation
		}
	}
	return out
}

// specOperation is one method of a path.
type specOperation struct {
	Parameters []specParameter         `yaml:"parameters"`
	Responses  map[string]specResponse `yaml:"responses"`
}

// specParameter is a parameter, or a reference to one of the components.
type specParameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

// specResponse is a response, or a reference to one of the components.
type specResponse struct {
	Ref     string         `yaml:"$ref"`
	Headers map[string]any `yaml:"headers"`
	Content map[string]struct {
		Schema struct {
			Ref string `yaml:"$ref"`
		} `yaml:"schema"`
	} `yaml:"content"`
}

// loadSpec reads and parses the OpenAPI description.
func loadSpec(t *testing.T) *specDocument {
	t.Helper()
	data, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatalf("read the OpenAPI description: %v", err)
	}
	var document specDocument
	if err := yaml.Unmarshal(data, &document); err != nil {
		t.Fatalf("%s does not parse: %v", specFile, err)
	}
	return &document
}

// specPath turns a pattern of http.ServeMux into an OpenAPI path: "{$}"
// is the path with its trailing slash, "{name...}" the parameter name.
func specPath(pattern string) string {
	pattern = strings.TrimSuffix(pattern, "{$}")
	return strings.ReplaceAll(pattern, "...}", "}")
}

// operationKey names a method of a path in messages.
func operationKey(method, path string) string { return method + " " + path }

// servedOperations are the public operations the node serves: the route
// table's non-intra routes, the object routes and the S3 API.
func servedOperations() map[string]bool {
	served := map[string]bool{}
	for _, route := range gateway.RouteTable() {
		if !route.Intra {
			served[operationKey(route.Method, specPath(route.Pattern))] = true
		}
	}
	for _, method := range gateway.ObjectMethods() {
		served[operationKey(method, gateway.ObjectPrefix+"{bucket}/{object}")] = true
	}
	for path, methods := range s3Operations {
		for _, method := range methods {
			served[operationKey(method, path)] = true
		}
	}
	return served
}

// The description is OpenAPI 3.1, whose schemas are JSON Schema's (type
// lists, const, contentSchema are used).
func TestOpenAPIVersion(t *testing.T) {
	document := loadSpec(t)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(document.OpenAPI) {
		t.Errorf("openapi is %q, want 3.1.x", document.OpenAPI)
	}
}

// Every public route and method is described, and nothing else is.
func TestOpenAPIRoutes(t *testing.T) {
	document := loadSpec(t)
	served := servedOperations()
	documented := map[string]bool{}
	for path, item := range document.Paths {
		for method := range item.operations() {
			documented[operationKey(method, path)] = true
		}
	}
	var missing, unserved []string
	for operation := range served {
		if !documented[operation] {
			missing = append(missing, operation)
		}
	}
	for operation := range documented {
		if !served[operation] {
			unserved = append(unserved, operation)
		}
	}
	slices.Sort(missing)
	slices.Sort(unserved)
	for _, operation := range missing {
		t.Errorf("%s is served but missing from %s", operation, specFile)
	}
	for _, operation := range unserved {
		t.Errorf("%s is in %s but the node does not serve it (or it is an intra-cluster route)", operation, specFile)
	}
}

// apiQueries reads the Query* constants of the api package: name → value.
func apiQueries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(apiDir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", apiDir, err)
	}
	out := map[string]string{}
	positions := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(positions, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, declaration := range parsed.Decls {
			group, ok := declaration.(*ast.GenDecl)
			if !ok || group.Tok != token.CONST {
				continue
			}
			for _, spec := range group.Specs {
				constants := spec.(*ast.ValueSpec)
				for i, name := range constants.Names {
					if !strings.HasPrefix(name.Name, "Query") {
						continue
					}
					var literal *ast.BasicLit
					if i < len(constants.Values) {
						literal, _ = constants.Values[i].(*ast.BasicLit)
					}
					if literal == nil || literal.Kind != token.STRING {
						t.Errorf("%s: api.%s is not a string literal; this test cannot read its value", positions.Position(name.Pos()), name.Name)
						continue
					}
					value, err := strconv.Unquote(literal.Value)
					if err != nil {
						t.Fatalf("%s: api.%s: %v", positions.Position(literal.Pos()), name.Name, err)
					}
					out[name.Name] = value
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("found no Query* constants in %s", apiDir)
	}
	return out
}

// documentedQueries are the query parameters of the native API's
// operations: parameter name → the operations that take it.
func documentedQueries(t *testing.T, document *specDocument) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	resolve := func(parameter specParameter) specParameter {
		if parameter.Ref == "" {
			return parameter
		}
		name := strings.TrimPrefix(parameter.Ref, "#/components/parameters/")
		target, ok := document.Components.Parameters[name]
		if !ok {
			t.Errorf("parameter reference %q leads nowhere", parameter.Ref)
		}
		return target
	}
	for path, item := range document.Paths {
		if path == s3Prefix || strings.HasPrefix(path, s3Prefix+"/") {
			continue
		}
		for method, operation := range item.operations() {
			for _, parameter := range slices.Concat(item.Parameters, operation.Parameters) {
				if parameter = resolve(parameter); parameter.In == "query" {
					out[parameter.Name] = append(out[parameter.Name], operationKey(method, path))
				}
			}
		}
	}
	return out
}

// Every query parameter of the api package is documented on some
// operation, and every documented one is a constant of the api package.
func TestOpenAPIQueryParameters(t *testing.T) {
	document := loadSpec(t)
	constants := apiQueries(t)
	documented := documentedQueries(t, document)
	known := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(constants)) {
		value := constants[name]
		known[value] = true
		if reason, private := privateQueries[name]; private {
			if len(documented[value]) > 0 {
				t.Errorf("api.%s (%q) is listed as not public (%s) but %s documents it", name, value, reason, specFile)
			}
			continue
		}
		if len(documented[value]) == 0 {
			t.Errorf("query parameter %q (api.%s) is documented on no operation of %s", value, name, specFile)
		}
	}
	for name := range privateQueries {
		if _, ok := constants[name]; !ok {
			t.Errorf("privateQueries names api.%s, which no longer exists", name)
		}
	}
	for value := range literalQueries {
		known[value] = true
	}
	for _, value := range slices.Sorted(maps.Keys(documented)) {
		if !known[value] {
			slices.Sort(documented[value])
			t.Errorf("%s documents query parameter %q (%s), which is no Query* constant of the api package", specFile, value, strings.Join(documented[value], ", "))
		}
	}
}

// Every error answer of the native API is the shared Error body, or, for
// HEAD, the Hdr-Error header that carries it.
func TestOpenAPIErrors(t *testing.T) {
	document := loadSpec(t)
	const errorSchema = "#/components/schemas/Error"
	for _, path := range slices.Sorted(maps.Keys(document.Paths)) {
		if path == s3Prefix || strings.HasPrefix(path, s3Prefix+"/") {
			continue
		}
		operations := document.Paths[path].operations()
		for _, method := range slices.Sorted(maps.Keys(operations)) {
			responses := operations[method].Responses
			for _, code := range slices.Sorted(maps.Keys(responses)) {
				response := responses[code]
				if code != "default" && !strings.HasPrefix(code, "4") && !strings.HasPrefix(code, "5") {
					continue
				}
				where := fmt.Sprintf("%s response %s", operationKey(method, path), code)
				if response.Ref != "" {
					name := strings.TrimPrefix(response.Ref, "#/components/responses/")
					target, ok := document.Components.Responses[name]
					if !ok {
						t.Errorf("%s: reference %q leads nowhere", where, response.Ref)
						continue
					}
					response = target
				}
				if method == "HEAD" {
					if _, ok := response.Headers["Hdr-Error"]; !ok {
						t.Errorf("%s: a HEAD error must carry the Hdr-Error header", where)
					}
					continue
				}
				if response.Content["application/json"].Schema.Ref != errorSchema {
					t.Errorf("%s: the body is not application/json %s", where, errorSchema)
				}
			}
		}
	}
}
