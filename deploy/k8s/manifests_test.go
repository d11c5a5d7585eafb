package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The image the manifests run (deploy/image/Containerfile, `make image`).
const (
	aisnodeBinary = "/usr/local/bin/aisnode"
	aisBinary     = "/usr/local/bin/ais"
	imageUID      = 10001
)

// aisnodeSource is where aisnode's flags and config fields are read from.
const aisnodeSource = "../../cmd/aisnode/main.go"

// manifests are the decoded documents of the kustomization.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	budgets      []*policyv1.PodDisruptionBudget
}

// kustomization is the part of kustomization.yaml this base uses; any
// other field (a generator, a patch) is refused until the test knows it.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Resources  []string `yaml:"resources"`
}

// newDecoder decodes YAML into the typed objects of apps/v1, core/v1 and
// policy/v1, strictly: an unknown or duplicate field is an error.
func newDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true}), nil
}

// load reads the kustomization at the root of fsys and decodes every
// document of every resource it lists.
func load(fsys fs.FS) (*manifests, error) {
	data, err := fs.ReadFile(fsys, "kustomization.yaml")
	if err != nil {
		return nil, err
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml: %s %s is not a kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	var errs []error
	for _, r := range k.Resources {
		if path.Base(r) != r {
			errs = append(errs, fmt.Errorf("kustomization.yaml: resource %s is not a file of this directory", r))
		} else if _, err := fs.Stat(fsys, r); err != nil {
			errs = append(errs, fmt.Errorf("kustomization.yaml: resource %s: %w", r, err))
		}
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) &&
			name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			errs = append(errs, fmt.Errorf("%s is not listed in kustomization.yaml's resources", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	decoder, err := newDecoder()
	if err != nil {
		return nil, err
	}
	m := new(manifests)
	for _, r := range k.Resources {
		data, err := fs.ReadFile(fsys, r)
		if err != nil {
			return nil, err
		}
		docs, err := splitDocuments(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		for i, doc := range docs {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s, document %d: %w", r, i+1, err))
				continue
			}
			switch o := obj.(type) {
			case *appsv1.StatefulSet:
				m.statefulSets = append(m.statefulSets, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			case *corev1.ConfigMap:
				m.configMaps = append(m.configMaps, o)
			case *corev1.Secret:
				m.secrets = append(m.secrets, o)
			case *policyv1.PodDisruptionBudget:
				m.budgets = append(m.budgets, o)
			default:
				errs = append(errs, fmt.Errorf("%s, document %d: %T is not checked by this test: teach it", r, i+1, obj))
			}
		}
	}
	return m, errors.Join(errs...)
}

// splitDocuments splits a multi-document YAML file, dropping documents
// that hold only comments.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		empty := true
		for line := range strings.SplitSeq(string(doc), "\n") {
			if line = strings.TrimSpace(line); line != "" && line != "---" && !strings.HasPrefix(line, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, doc)
		}
	}
}

// podTemplate is the pod template of a workload.
type podTemplate struct {
	owner string // "StatefulSet/name"
	set   *appsv1.StatefulSet
	meta  *metav1.ObjectMeta
	spec  *corev1.PodSpec
}

func (m *manifests) templates() []podTemplate {
	var out []podTemplate
	for _, s := range m.statefulSets {
		out = append(out, podTemplate{owner: "StatefulSet/" + s.Name, set: s, meta: &s.Spec.Template.ObjectMeta, spec: &s.Spec.Template.Spec})
	}
	return out
}

// selected returns the templates whose labels a selector matches.
func (m *manifests) selected(sel labels.Selector) []podTemplate {
	var out []podTemplate
	for _, t := range m.templates() {
		if !sel.Empty() && sel.Matches(labels.Set(t.meta.Labels)) {
			out = append(out, t)
		}
	}
	return out
}

// aisnode returns a template's aisnode container, or nil.
func (t podTemplate) aisnode() *corev1.Container {
	for i, c := range t.spec.Containers {
		if len(c.Command) > 0 && c.Command[0] == aisnodeBinary {
			return &t.spec.Containers[i]
		}
	}
	return nil
}

// flag returns the value of an aisnode flag given as -name=value,
// --name=value or -name value.
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// fileFlags are the aisnode flags whose value is a file to read.
var fileFlags = []string{"config", "secret-file", "auth-key", "tls-cert", "tls-key", "tls-client-ca", "tls-ca"}

// aisnodeFlags reads the names of aisnode's flags from its source:
// flags.String("name", ...) and the like.
func aisnodeFlags() (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), aisnodeSource, nil, 0)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "flags" {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if name, err := strconv.Unquote(lit.Value); err == nil {
				names[name] = true
			}
		}
		return true
	})
	if len(names) < 10 {
		return nil, fmt.Errorf("%s: found only %d flags: has the flag set been renamed from flags?", aisnodeSource, len(names))
	}
	return names, nil
}

// configFields is the tree of yaml keys of aisnode's config struct: a
// nil value is a leaf (a scalar, a list, a map of free keys).
type configFields map[string]configFields

// aisnodeConfigFields reads the yaml tags of aisnode's config struct and
// of the structs it nests.
func aisnodeConfigFields() (configFields, error) {
	f, err := parser.ParseFile(token.NewFileSet(), aisnodeSource, nil, 0)
	if err != nil {
		return nil, err
	}
	structs := map[string]*ast.StructType{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			if ts, ok := s.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
		}
	}
	var fields func(st *ast.StructType) configFields
	fields = func(st *ast.StructType) configFields {
		out := configFields{}
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			out[name] = nil
			if id, ok := field.Type.(*ast.Ident); ok && structs[id.Name] != nil {
				out[name] = fields(structs[id.Name])
			}
		}
		return out
	}
	if structs["config"] == nil {
		return nil, fmt.Errorf("%s: no config struct", aisnodeSource)
	}
	return fields(structs["config"]), nil
}

// checkConfig reports the keys of a node config that aisnode does not
// know.
func checkConfig(where string, data string, known configFields) []string {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	var problems []string
	var walk func(prefix string, doc map[string]any, known configFields)
	walk = func(prefix string, doc map[string]any, known configFields) {
		for key, value := range doc {
			sub, ok := known[key]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown config field %s%s (see the config struct in cmd/aisnode/main.go)", where, prefix, key))
				continue
			}
			if nested, isMap := value.(map[string]any); isMap && sub != nil {
				walk(prefix+key+".", nested, sub)
			} else if sub != nil {
				problems = append(problems, fmt.Sprintf("%s: config field %s%s is a section, not a value", where, prefix, key))
			}
		}
	}
	walk("", doc, known)
	return problems
}

// checkProbesAndPorts checks that aisnode's probes ask /v1/health on the
// port it serves (-port), that the s3 port is the one -s3-port opens, and
// that the container runs without privileges on a read-only root.
func checkProbesAndPorts(where string, c *corev1.Container) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(where+": "+format, args...)) }
	flag := func(name string) int32 {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
				n, _ := strconv.Atoi(v)
				return int32(n)
			}
		}
		return 0
	}
	port := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		return -1
	}
	served := flag("port")
	for name, probe := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if probe == nil {
			continue
		}
		if probe.HTTPGet == nil || probe.HTTPGet.Path != "/v1/health" || port(probe.HTTPGet.Port) != served {
			fail("%s must GET /v1/health on the port of -port (%d)", name, served)
		}
	}
	for _, cp := range c.Ports {
		if cp.Name == "s3" && cp.ContainerPort != flag("s3-port") {
			fail("port s3 is %d, but -s3-port opens %d", cp.ContainerPort, flag("s3-port"))
		}
		if cp.Name == "http" && cp.ContainerPort != served {
			fail("port http is %d, but -port serves %d", cp.ContainerPort, served)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Privileged != nil && *sc.Privileged || sc.RunAsUser != nil && *sc.RunAsUser != imageUID ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		fail("the container securityContext must drop ALL capabilities, forbid privilege escalation and keep the root filesystem read-only, as the image's user")
	}
	return problems
}

// varRef matches a $(VAR) reference of a container's args or env.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// envFromField returns the field path an env var is set from, or "".
func envFromField(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// stableName is what -url must be for a pod of a StatefulSet: its DNS
// name through the StatefulSet's headless Service.
func stableName(service string) string {
	return "$(POD_NAME)." + service + ".$(NAMESPACE).svc"
}

// check returns every broken invariant of the manifests.
func check(m *manifests) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	flags, err := aisnodeFlags()
	if err != nil {
		return []string{err.Error()}
	}
	fields, err := aisnodeConfigFields()
	if err != nil {
		return []string{err.Error()}
	}
	configMaps, secrets := map[string]map[string]string{}, map[string]map[string]string{}
	for _, c := range m.configMaps {
		configMaps[c.Name] = c.Data
	}
	for _, s := range m.secrets {
		keys := map[string]string{}
		for k, v := range s.StringData {
			keys[k] = v
		}
		for k, v := range s.Data {
			keys[k] = string(v)
		}
		secrets[s.Name] = keys
	}
	services := map[string]*corev1.Service{}
	for _, s := range m.services {
		services[s.Name] = s
	}

	var gateways, targets []podTemplate
	for _, t := range m.templates() {
		spec := t.spec
		// The pod runs as the image's user.
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != imageUID || sc.FSGroup == nil || *sc.FSGroup != imageUID {
			fail("%s: the pod securityContext must have runAsNonRoot, runAsUser %d and fsGroup %d (the image's user)", t.owner, imageUID, imageUID)
		}
		// aisnode never calls the Kubernetes API: a node broken into
		// must not find a service account's token.
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			fail("%s: the pod must set automountServiceAccountToken: false", t.owner)
		}
		// A StatefulSet's selector selects its own pods.
		if sel, err := metav1.LabelSelectorAsSelector(t.set.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(t.meta.Labels)) {
			fail("%s: spec.selector does not select its pod template's labels", t.owner)
		}
		claims := map[string]bool{}
		for _, c := range t.set.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		volumes := map[string]*corev1.Volume{}
		for i, v := range spec.Volumes {
			volumes[v.Name] = &spec.Volumes[i]
			if claims[v.Name] {
				fail("%s: volume %s is also a volumeClaimTemplate", t.owner, v.Name)
			}
			problems = append(problems, checkVolumeRefs(t.owner, v, configMaps, secrets)...)
		}
		containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
		for i := range containers {
			c := &containers[i]
			where := t.owner + " container " + c.Name
			if c.LivenessProbe == nil {
				fail("%s: no livenessProbe", where)
			}
			if c.ReadinessProbe == nil {
				fail("%s: no readinessProbe", where)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					fail("%s: no resources.requests.%s", where, r)
				}
				if _, ok := c.Resources.Limits[r]; !ok {
					fail("%s: no resources.limits.%s", where, r)
				}
			}
			for _, mount := range c.VolumeMounts {
				if volumes[mount.Name] == nil && !claims[mount.Name] {
					fail("%s: volumeMount %s names no volume nor volumeClaimTemplate", where, mount.Name)
				}
			}
			problems = append(problems, checkEnv(where, c, configMaps, secrets)...)
		}
		node := t.aisnode()
		if node == nil {
			fail("%s: no container runs %s", t.owner, aisnodeBinary)
			continue
		}
		where := t.owner + " container " + node.Name
		problems = append(problems, checkProbesAndPorts(where, node)...)
		// GOMEMLIMIT at the container's limit leaves the collector no
		// room before the kernel kills: aisnode sets 90% of it itself.
		for _, e := range node.Env {
			if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
				fail("%s: GOMEMLIMIT from %s is the hard limit itself (aisnode sets 90%% of the container's limit)", where, e.ValueFrom.ResourceFieldRef.Resource)
			}
		}
		if role, _ := flag(node.Args, "role"); role == "gateway" {
			// Serving on while the Service drops the stopping pod.
			if h := node.Lifecycle; h == nil || h.PreStop == nil || h.PreStop.Sleep == nil || h.PreStop.Sleep.Seconds < 5 {
				fail("%s: no preStop sleep of 5 s or more: a stopping gateway would refuse the connections its Service still sends", where)
			}
		}
		// Every flag is aisnode's, and every $(VAR) is an env var of the
		// container (Kubernetes leaves an unknown one as it is).
		declared := map[string]bool{}
		for _, e := range node.Env {
			declared[e.Name] = true
		}
		for _, a := range node.Args {
			if strings.HasPrefix(a, "-") {
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				if !flags[name] {
					fail("%s: aisnode has no flag -%s", where, name)
				}
			}
			for _, ref := range varRef.FindAllStringSubmatch(a, -1) {
				if !declared[ref[1]] {
					fail("%s: argument %q refers to $(%s), which is not an env var of the container", where, a, ref[1])
				}
			}
		}
		// The files aisnode reads are keys of mounted ConfigMaps and
		// Secrets; the config holds only fields aisnode knows.
		for _, name := range fileFlags {
			file, ok := flag(node.Args, name)
			if !ok {
				continue
			}
			source, key, content, err := mountedFile(node, volumes, configMaps, secrets, file)
			if err != nil {
				fail("%s: -%s %s: %v", where, name, file, err)
			} else if name == "config" {
				problems = append(problems, checkConfig(fmt.Sprintf("%s: -config %s (%s key %s)", t.owner, file, source, key), content, fields)...)
			}
		}
		// The preStop hook's --skip-if file is a mounted ConfigMap key
		// that reads false: true, every stop would skip the drain.
		if hook := node.Lifecycle; hook != nil && hook.PreStop != nil && hook.PreStop.Exec != nil {
			for _, a := range hook.PreStop.Exec.Command {
				if file, ok := strings.CutPrefix(a, "--skip-if="); ok {
					if _, _, content, err := mountedFile(node, volumes, configMaps, secrets, file); err != nil {
						fail("%s: preStop --skip-if %s: %v", where, file, err)
					} else if content != "false" {
						fail("%s: preStop --skip-if %s reads %q: want \"false\" (a target stopping alone drains)", where, file, content)
					}
				}
			}
		}
		if id, _ := flag(node.Args, "id"); id != "$(POD_NAME)" || envFromField(node, "POD_NAME") != "metadata.name" {
			fail("%s: -id must be $(POD_NAME), the pod name (env POD_NAME from metadata.name): the node id stays across restarts", where)
		}
		if envFromField(node, "NAMESPACE") != "metadata.namespace" {
			fail("%s: env NAMESPACE must come from metadata.namespace", where)
		}
		// A pod's URL is its stable DNS name through the StatefulSet's
		// headless Service, at its port.
		port, _ := flag(node.Args, "port")
		if u, _ := flag(node.Args, "url"); u != "http://"+stableName(t.set.Spec.ServiceName)+":"+port {
			fail("%s: -url %q must be http://%s:%s", where, u, stableName(t.set.Spec.ServiceName), port)
		}
		if !slices.ContainsFunc(node.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == port }) {
			fail("%s: -port %s is not a containerPort", where, port)
		}
		if host, _ := flag(node.Args, "host"); host != "0.0.0.0" {
			fail("%s: -host must be 0.0.0.0 (the pod's address changes)", where)
		}
		if dir, _ := flag(node.Args, "data"); !onClaim(node, claims, dir) {
			fail("%s: -data %q is not a volumeClaimTemplate's mount: it would not survive a restart", where, dir)
		}
		// The StatefulSet's Service is headless, selects its pods and
		// publishes them before they are ready.
		svc := services[t.set.Spec.ServiceName]
		switch {
		case svc == nil:
			fail("%s: serviceName %q names no Service", t.owner, t.set.Spec.ServiceName)
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			fail("%s: serviceName %s is not a headless Service (clusterIP: None)", t.owner, svc.Name)
		case !svc.Spec.PublishNotReadyAddresses:
			fail("%s: the headless Service %s must publish not-ready pods (joins and Raft need the names before readiness)", t.owner, svc.Name)
		case len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(t.meta.Labels)):
			fail("%s: the headless Service %s does not select its pods", t.owner, svc.Name)
		}
		switch role, _ := flag(node.Args, "role"); role {
		case "gateway":
			gateways = append(gateways, t)
		case "target":
			targets = append(targets, t)
		default:
			fail("%s: -role %q: want gateway or target", where, role)
		}
	}
	problems = append(problems, checkGateways(gateways, services)...)
	problems = append(problems, checkTargets(targets, gateways, services)...)
	problems = append(problems, checkServices(m)...)
	problems = append(problems, checkBudgets(m, gateways, targets)...)
	return problems
}

// checkVolumeRefs reports the ConfigMaps and Secrets (and their keys) a
// volume names that do not exist.
func checkVolumeRefs(owner string, v corev1.Volume, configMaps, secrets map[string]map[string]string) []string {
	var problems []string
	ref := func(kind, name string, items []corev1.KeyToPath, optional *bool, objects map[string]map[string]string) {
		keys, ok := objects[name]
		if !ok {
			if optional == nil || !*optional {
				problems = append(problems, fmt.Sprintf("%s: volume %s: %s %q is not among the manifests", owner, v.Name, kind, name))
			}
			return
		}
		for _, item := range items {
			if _, ok := keys[item.Key]; !ok {
				problems = append(problems, fmt.Sprintf("%s: volume %s: %s %s has no key %q", owner, v.Name, kind, name, item.Key))
			}
		}
	}
	if v.ConfigMap != nil {
		ref("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, configMaps)
	}
	if v.Secret != nil {
		ref("Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, secrets)
	}
	if v.Projected != nil {
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				ref("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, configMaps)
			}
			if s.Secret != nil {
				ref("Secret", s.Secret.Name, s.Secret.Items, s.Secret.Optional, secrets)
			}
		}
	}
	return problems
}

// checkEnv reports env and envFrom references to missing ConfigMaps,
// Secrets and keys, env values that refer to an env var not defined
// before them, and *_FILE env vars naming no mounted key.
func checkEnv(where string, c *corev1.Container, configMaps, secrets map[string]map[string]string) []string {
	var problems []string
	for _, from := range c.EnvFrom {
		if r := from.ConfigMapRef; r != nil && configMaps[r.Name] == nil && (r.Optional == nil || !*r.Optional) {
			problems = append(problems, fmt.Sprintf("%s: envFrom ConfigMap %q is not among the manifests", where, r.Name))
		}
		if r := from.SecretRef; r != nil && secrets[r.Name] == nil && (r.Optional == nil || !*r.Optional) {
			problems = append(problems, fmt.Sprintf("%s: envFrom Secret %q is not among the manifests", where, r.Name))
		}
	}
	defined := map[string]bool{}
	for _, e := range c.Env {
		for _, ref := range varRef.FindAllStringSubmatch(e.Value, -1) {
			if !defined[ref[1]] {
				problems = append(problems, fmt.Sprintf("%s: env %s refers to $(%s), not defined before it", where, e.Name, ref[1]))
			}
		}
		defined[e.Name] = true
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && (r.Optional == nil || !*r.Optional) {
			if _, ok := configMaps[r.Name][r.Key]; !ok {
				problems = append(problems, fmt.Sprintf("%s: env %s: ConfigMap %q key %q is not among the manifests", where, e.Name, r.Name, r.Key))
			}
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && (r.Optional == nil || !*r.Optional) {
			if _, ok := secrets[r.Name][r.Key]; !ok {
				problems = append(problems, fmt.Sprintf("%s: env %s: Secret %q key %q is not among the manifests", where, e.Name, r.Name, r.Key))
			}
		}
	}
	return problems
}

// mountedFile finds the ConfigMap or Secret key a container reads as
// file, through its volume mounts.
func mountedFile(c *corev1.Container, volumes map[string]*corev1.Volume, configMaps, secrets map[string]map[string]string, file string) (source, key, content string, err error) {
	for _, mount := range c.VolumeMounts {
		rest, ok := strings.CutPrefix(file, strings.TrimSuffix(mount.MountPath, "/")+"/")
		if !ok {
			continue
		}
		v := volumes[mount.Name]
		if v == nil {
			return "", "", "", fmt.Errorf("it is on the mount of %s, not a ConfigMap or Secret", mount.Name)
		}
		var keys map[string]string
		switch {
		case v.ConfigMap != nil:
			source, keys = "ConfigMap "+v.ConfigMap.Name, configMaps[v.ConfigMap.Name]
		case v.Secret != nil:
			source, keys = "Secret "+v.Secret.SecretName, secrets[v.Secret.SecretName]
		default:
			return "", "", "", fmt.Errorf("volume %s is not a ConfigMap or Secret", v.Name)
		}
		content, ok := keys[rest]
		if !ok {
			return "", "", "", fmt.Errorf("%s (volume %s at %s) has no key %q", source, v.Name, mount.MountPath, rest)
		}
		return source, rest, content, nil
	}
	return "", "", "", errors.New("no volume is mounted there")
}

// onClaim reports whether dir is the mount point of a claim template.
func onClaim(c *corev1.Container, claims map[string]bool, dir string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return claims[m.Name] && path.Clean(m.MountPath) == path.Clean(dir) && dir != ""
	})
}

// checkGateways: exactly one gateway StatefulSet, of one replica, starts
// the cluster (no -join), with -rejoin through a Service of the ready
// gateways; every other joins that pod by its stable name;
// the voters are an odd number, at least three.
func checkGateways(gateways []podTemplate, services map[string]*corev1.Service) []string {
	var problems []string
	var seeds, joiners []podTemplate
	voters := 0
	for _, t := range gateways {
		voters += int(replicas(t.set))
		if _, ok := flag(t.aisnode().Args, "join"); ok {
			joiners = append(joiners, t)
		} else {
			seeds = append(seeds, t)
		}
	}
	if voters < 3 || voters%2 == 0 {
		problems = append(problems, fmt.Sprintf("%d gateways: want an odd number, at least 3, for a Raft majority that survives a failure", voters))
	}
	if len(seeds) != 1 {
		return append(problems, fmt.Sprintf("%d gateway StatefulSets start without -join: want exactly one, the seed that starts the cluster", len(seeds)))
	}
	seed := seeds[0]
	if replicas(seed.set) != 1 {
		problems = append(problems, fmt.Sprintf("%s: the seed has %d replicas: each would start a cluster of its own", seed.owner, replicas(seed.set)))
	}
	// Its volume lost, it joins the cluster running rather than start a
	// second one beside it: asked through the ready gateways (not
	// itself, starting).
	rejoin, _ := flag(seed.aisnode().Args, "rejoin")
	if svc, problem := gatewayService(rejoin, services, gateways); problem != "" {
		problems = append(problems, fmt.Sprintf("%s: -rejoin %s", seed.owner, problem))
	} else if svc.Spec.PublishNotReadyAddresses {
		problems = append(problems, fmt.Sprintf("%s: -rejoin Service %s publishes gateways not ready: the seed, starting, may ask itself", seed.owner, svc.Name))
	}
	port, _ := flag(seed.aisnode().Args, "port")
	want := "http://" + seed.set.Name + "-0." + seed.set.Spec.ServiceName + ".$(NAMESPACE).svc:" + port
	for _, t := range joiners {
		if join, _ := flag(t.aisnode().Args, "join"); join != want {
			problems = append(problems, fmt.Sprintf("%s: -join %q: want the seed's stable name, %s", t.owner, join, want))
		}
	}
	return problems
}

// gatewayService checks that raw is SERVICE.$(NAMESPACE).svc:PORT of a
// Service of the manifests that selects gateways; it returns the Service,
// or the problem.
func gatewayService(raw string, services map[string]*corev1.Service, gateways []podTemplate) (*corev1.Service, string) {
	u, err := url.Parse(raw)
	if err != nil {
		u = new(url.URL)
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	svc := services[name]
	if svc == nil || u.Hostname() != name+".$(NAMESPACE).svc" ||
		!slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == u.Port() }) {
		return nil, fmt.Sprintf("%q is not SERVICE.$(NAMESPACE).svc:PORT of a Service of the manifests", raw)
	}
	if sel := labels.SelectorFromSet(svc.Spec.Selector); !slices.ContainsFunc(gateways, func(g podTemplate) bool {
		return !sel.Empty() && sel.Matches(labels.Set(g.meta.Labels))
	}) {
		return nil, fmt.Sprintf("Service %s selects no gateway", name)
	}
	return svc, ""
}

func replicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// checkTargets: a claim per mountpath, mounted there; the targets join
// the gateways through a Service; a stopping target drains itself with
// the ais CLI (no shell in the image) in time; targets spread over
// machines.
func checkTargets(targets, gateways []podTemplate, services map[string]*corev1.Service) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(targets) == 0 {
		return []string{"no target StatefulSet (-role=target)"}
	}
	for _, t := range targets {
		node := t.aisnode()
		where := t.owner + " container " + node.Name
		if len(t.set.Spec.VolumeClaimTemplates) == 0 {
			fail("%s: no volumeClaimTemplates", t.owner)
		}
		claims := map[string]bool{}
		for _, c := range t.set.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		list, ok := flag(node.Args, "mountpaths")
		if !ok {
			fail("%s: no -mountpaths", where)
		}
		used := map[string]string{}
		for mp := range strings.SplitSeq(list, ",") {
			if !ok {
				break
			}
			i := slices.IndexFunc(node.VolumeMounts, func(m corev1.VolumeMount) bool { return path.Clean(m.MountPath) == path.Clean(mp) })
			switch {
			case i < 0:
				fail("%s: mountpath %s is not mounted", where, mp)
			case !claims[node.VolumeMounts[i].Name]:
				fail("%s: mountpath %s is volume %s, not a volumeClaimTemplate", where, mp, node.VolumeMounts[i].Name)
			case used[node.VolumeMounts[i].Name] != "":
				fail("%s: mountpaths %s and %s share the claim %s", where, used[node.VolumeMounts[i].Name], mp, node.VolumeMounts[i].Name)
			default:
				used[node.VolumeMounts[i].Name] = mp
			}
		}
		// The targets join any ready gateway through a Service.
		join, _ := flag(node.Args, "join")
		if _, problem := gatewayService(join, services, gateways); problem != "" {
			fail("%s: -join %s", where, problem)
		}
		// The preStop hook drains the target: ais cluster maintenance
		// start, for this pod's node id, waiting for the rebalance.
		hook := node.Lifecycle
		switch {
		case hook == nil || hook.PreStop == nil || hook.PreStop.Exec == nil || len(hook.PreStop.Exec.Command) == 0:
			fail("%s: no preStop exec hook: a stopping target must move its objects away first", where)
		case hook.PreStop.Exec.Command[0] != aisBinary:
			fail("%s: the preStop hook runs %s, not %s (the image has no shell)", where, hook.PreStop.Exec.Command[0], aisBinary)
		default:
			cmd := strings.Join(hook.PreStop.Exec.Command[1:], " ")
			if !strings.HasPrefix(cmd, "cluster maintenance start") || !strings.Contains(cmd, "--wait-rebalance") {
				fail("%s: the preStop hook %q is not `ais cluster maintenance start --wait-rebalance`", where, cmd)
			}
			// Without it, stopping the whole cluster drains every target
			// onto the ones still up, the last taking every object.
			if !strings.Contains(cmd, "--skip-if=") {
				fail("%s: the preStop hook %q has no --skip-if: a whole cluster's stop would pile every object onto its last target", where, cmd)
			}
			// Exec hooks do not expand $(VAR): the CLI takes the id
			// from AIS_NODE_ID, the pod name like -id.
			if envFromField(node, "AIS_NODE_ID") != "metadata.name" {
				fail("%s: env AIS_NODE_ID must come from metadata.name, the target's id, for the preStop hook", where)
			}
			// Exec hooks do not expand $(VAR) either: sent as is.
			if slices.ContainsFunc(hook.PreStop.Exec.Command, func(a string) bool { return strings.Contains(a, "$(") }) {
				fail("%s: the preStop hook %q refers to $(VAR): exec hooks do not expand it", where, cmd)
			}
			// Signed as the node: without the secret, the change is
			// refused (401) with authentication on, and the target stops
			// undrained.
			hookSecret, _ := flag(hook.PreStop.Exec.Command[1:], "secret-file")
			if nodeSecret, _ := flag(node.Args, "secret-file"); hookSecret == "" || hookSecret != nodeSecret {
				fail("%s: the preStop hook's --secret-file %q is not the node's -secret-file %q: its change would be refused", where, hookSecret, nodeSecret)
			}
			// The drain ends before the kubelet's kill, with time left
			// for aisnode's own stop.
			timeout, _ := flag(hook.PreStop.Exec.Command[1:], "timeout")
			if d, err := time.ParseDuration(timeout); err != nil || t.spec.TerminationGracePeriodSeconds == nil ||
				d+time.Minute > time.Duration(*t.spec.TerminationGracePeriodSeconds)*time.Second {
				fail("%s: the preStop hook's --timeout %q must end a minute before terminationGracePeriodSeconds", where, timeout)
			}
			endpoint := slices.IndexFunc(node.Env, func(e corev1.EnvVar) bool { return e.Name == "AIS_ENDPOINT" })
			namespace := slices.IndexFunc(node.Env, func(e corev1.EnvVar) bool { return e.Name == "NAMESPACE" })
			switch {
			case endpoint < 0:
				fail("%s: no AIS_ENDPOINT for the preStop hook's ais", where)
			case namespace < 0 || namespace > endpoint:
				// An env value expands only the vars listed before it.
				fail("%s: AIS_ENDPOINT comes before NAMESPACE: its $(NAMESPACE) is not expanded", where)
			default:
				if _, problem := gatewayService(node.Env[endpoint].Value, services, gateways); problem != "" {
					fail("%s: AIS_ENDPOINT %s", where, problem)
				}
			}
		}
		if t.set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement {
			fail("%s: podManagementPolicy Parallel stops targets together when scaling down, each draining onto the others: want OrderedReady", t.owner)
		}
		if g := t.spec.TerminationGracePeriodSeconds; g == nil || *g < 600 {
			fail("%s: terminationGracePeriodSeconds must leave the preStop hook time to move the objects (at least 600)", t.owner)
		}
		// A probe's kill restarts the node within a minute, not after
		// the drain's hour.
		for name, probe := range map[string]*corev1.Probe{"startupProbe": node.StartupProbe, "livenessProbe": node.LivenessProbe} {
			if probe != nil && (probe.TerminationGracePeriodSeconds == nil || *probe.TerminationGracePeriodSeconds > 60) {
				fail("%s: %s has no terminationGracePeriodSeconds of at most 60: a probe's kill would wait for the hour-long drain", where, name)
			}
		}
		if !spreads(t) {
			fail("%s: no pod anti-affinity across kubernetes.io/hostname for its own pods", t.owner)
		}
	}
	return problems
}

// spreads reports whether a template's pods keep away from each other's
// machines.
func spreads(t podTemplate) bool {
	a := t.spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	terms := slices.Clone(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		terms = append(terms, w.PodAffinityTerm)
	}
	return slices.ContainsFunc(terms, func(term corev1.PodAffinityTerm) bool {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		return err == nil && !sel.Empty() && term.TopologyKey == corev1.LabelHostname && sel.Matches(labels.Set(t.meta.Labels))
	})
}

// checkServices: every Service selects pods, and each of its ports
// targets a container port of every pod it selects.
func checkServices(m *manifests) []string {
	var problems []string
	for _, s := range m.services {
		pods := m.selected(labels.SelectorFromSet(s.Spec.Selector))
		if len(pods) == 0 {
			problems = append(problems, fmt.Sprintf("Service %s: its selector %v matches no pod template", s.Name, s.Spec.Selector))
			continue
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target == (intstr.IntOrString{}) {
				target = intstr.FromInt32(p.Port)
			}
			for _, t := range pods {
				found := slices.ContainsFunc(t.spec.Containers, func(c corev1.Container) bool {
					return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
						if target.Type == intstr.String {
							return cp.Name == target.StrVal
						}
						return cp.ContainerPort == target.IntVal
					})
				})
				if !found {
					problems = append(problems, fmt.Sprintf("Service %s port %s: targetPort %s is no container port of %s", s.Name, p.Name, target.String(), t.owner))
				}
			}
		}
	}
	return problems
}

// checkBudgets: every budget selects pods; targets go one at a time, and
// gateways keep a majority.
func checkBudgets(m *manifests, gateways, targets []podTemplate) []string {
	var problems []string
	covered := func(ts []podTemplate) *policyv1.PodDisruptionBudget {
		for _, b := range m.budgets {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err == nil && !sel.Empty() && !slices.ContainsFunc(ts, func(t podTemplate) bool { return !sel.Matches(labels.Set(t.meta.Labels)) }) {
				return b
			}
		}
		return nil
	}
	for _, b := range m.budgets {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || len(m.selected(sel)) == 0 {
			problems = append(problems, fmt.Sprintf("PodDisruptionBudget %s selects no pod template", b.Name))
		}
	}
	if b := covered(targets); b == nil || b.Spec.MaxUnavailable == nil || *b.Spec.MaxUnavailable != intstr.FromInt32(1) {
		problems = append(problems, "no PodDisruptionBudget with maxUnavailable 1 covers every target")
	}
	voters := 0
	for _, g := range gateways {
		voters += int(replicas(g.set))
	}
	// One gateway at a time keeps a majority of any number from three;
	// a minAvailable must be a majority of the gateways there are.
	if b := covered(gateways); b == nil || !(b.Spec.MaxUnavailable != nil && *b.Spec.MaxUnavailable == intstr.FromInt32(1) ||
		b.Spec.MinAvailable != nil && *b.Spec.MinAvailable == intstr.FromInt32(int32(voters/2+1))) {
		problems = append(problems, fmt.Sprintf("no PodDisruptionBudget with maxUnavailable 1 or minAvailable %d (a majority of %d) covers every gateway", voters/2+1, voters))
	}
	return problems
}

func TestManifests(t *testing.T) {
	m, err := load(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d StatefulSets, %d Services, %d ConfigMaps, %d Secrets, %d PodDisruptionBudgets",
		len(m.statefulSets), len(m.services), len(m.configMaps), len(m.secrets), len(m.budgets))
	for _, p := range check(m) {
		t.Error(p)
	}
}

// copyDir returns the manifests as an in-memory file system to mutate.
func copyDir(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			fsys[e.Name()] = &fstest.MapFile{Data: data}
		}
	}
	return fsys
}

// edit replaces the one occurrence of old in a file with replacement.
func edit(t *testing.T, fsys fstest.MapFS, file, old, replacement string) {
	t.Helper()
	text := string(fsys[file].Data)
	if strings.Count(text, old) != 1 {
		t.Fatalf("%s holds %q %d times, want once", file, old, strings.Count(text, old))
	}
	fsys[file].Data = []byte(strings.Replace(text, old, replacement, 1))
}

func statefulSet(t *testing.T, m *manifests, name string) *appsv1.StatefulSet {
	t.Helper()
	for _, s := range m.statefulSets {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no StatefulSet %s", name)
	return nil
}

func container(t *testing.T, m *manifests, name string) *corev1.Container {
	t.Helper()
	return &statefulSet(t, m, name).Spec.Template.Spec.Containers[0]
}

// TestManifestsMutated: the checks catch broken copies of the manifests,
// so TestManifests can fail.
func TestManifestsMutated(t *testing.T) {
	// Edits of the files that loading refuses.
	loadTests := []struct {
		name   string
		mutate func(t *testing.T, fsys fstest.MapFS)
		want   string
	}{
		{"misspelt field", func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "terminationGracePeriodSeconds: 3600", "terminationGracePeriod: 3600")
		}, `unknown field "spec.template.spec.terminationGracePeriod"`},
		{"misplaced field", func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "services.yaml", "  clusterIP: None\n  publishNotReadyAddresses: true\n  selector:\n    app.kubernetes.io/name: ais\n    app.kubernetes.io/component: target",
				"  clusterIP: None\n  publishNotReadyAddresses: true\n  selector:\n    app.kubernetes.io/name: ais\n    app.kubernetes.io/component: target\n  replicas: 3")
		}, `unknown field "spec.replicas"`},
		{"duplicate field", func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "disruption.yaml", "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ais\n      app.kubernetes.io/component: target",
				"  maxUnavailable: 1\n  maxUnavailable: 2\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ais\n      app.kubernetes.io/component: target")
		}, `"maxUnavailable" already set`},
		{"wrong type", func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "  replicas: 3", "  replicas: three")
		}, "document 1"},
		{"file not listed", func(t *testing.T, fsys fstest.MapFS) {
			fsys["extra.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")}
		}, "extra.yaml is not listed"},
		{"listed file missing", func(t *testing.T, fsys fstest.MapFS) {
			delete(fsys, "disruption.yaml")
		}, "resource disruption.yaml"},
		{"kind not checked", func(t *testing.T, fsys fstest.MapFS) {
			fsys["config.yaml"].Data = append(fsys["config.yaml"].Data, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"...)
		}, "*v1.Deployment is not checked"},
	}
	for _, tc := range loadTests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := copyDir(t)
			tc.mutate(t, fsys)
			_, err := load(fsys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v; want an error with %q", err, tc.want)
			}
			t.Log(err)
		})
	}

	// Edits that decode but break an invariant.
	checkTests := []struct {
		name   string
		text   func(t *testing.T, fsys fstest.MapFS) // nil: none
		mutate func(t *testing.T, m *manifests)      // nil: none
		want   string
	}{
		{name: "container without probes", mutate: func(t *testing.T, m *manifests) {
			c := container(t, m, "ais-target")
			c.LivenessProbe, c.ReadinessProbe = nil, nil
		}, want: "container aisnode: no livenessProbe"},
		{name: "container without limits", mutate: func(t *testing.T, m *manifests) {
			container(t, m, "ais-gateway").Resources.Limits = nil
		}, want: "StatefulSet/ais-gateway container aisnode: no resources.limits.cpu"},
		{name: "missing Secret", mutate: func(t *testing.T, m *manifests) {
			m.secrets = slices.DeleteFunc(m.secrets, func(s *corev1.Secret) bool { return s.Name == "ais-authn-key" })
		}, want: `Secret "ais-authn-key" is not among the manifests`},
		{name: "file not in its Secret", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "secrets.yaml", "  cluster-secret: REPLACE", "  secret: REPLACE")
		}, want: `-secret-file /etc/ais/secret/cluster-secret: Secret ais-cluster-secret (volume cluster-secret at /etc/ais/secret) has no key "cluster-secret"`},
		{name: "unknown config field", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "config.yaml", "      election_timeout: 1s", "      election_timeout: 1s\n      electon_timeout: 2s")
		}, want: "unknown config field limits.electon_timeout"},
		{name: "unknown aisnode flag", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "-mountpaths=", "-mountpath=")
		}, want: "aisnode has no flag -mountpath"},
		{name: "unknown variable", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "-id=$(POD_NAME)", "-id=$(POD)")
		}, want: "refers to $(POD)"},
		{name: "Service port", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "services.yaml", "targetPort: s3", "targetPort: s4")
		}, want: "Service ais port s3: targetPort s4 is no container port of StatefulSet/ais-gateway-seed"},
		{name: "Service selector", mutate: func(t *testing.T, m *manifests) {
			m.services[len(m.services)-1].Spec.Selector["app.kubernetes.io/component"] = "proxy"
		}, want: "Service ais: its selector"},
		{name: "mountpath without a claim", mutate: func(t *testing.T, m *manifests) {
			s := statefulSet(t, m, "ais-target")
			s.Spec.VolumeClaimTemplates = s.Spec.VolumeClaimTemplates[:2]
		}, want: "volumeMount mp2 names no volume nor volumeClaimTemplate"},
		{name: "no claims", mutate: func(t *testing.T, m *manifests) {
			statefulSet(t, m, "ais-target").Spec.VolumeClaimTemplates = nil
		}, want: "StatefulSet/ais-target: no volumeClaimTemplates"},
		{name: "no preStop hook", mutate: func(t *testing.T, m *manifests) {
			container(t, m, "ais-target").Lifecycle = nil
		}, want: "no preStop exec hook"},
		{name: "preStop hook with a shell", mutate: func(t *testing.T, m *manifests) {
			container(t, m, "ais-target").Lifecycle.PreStop.Exec.Command = []string{"/bin/sh", "-c", "ais cluster maintenance start $POD_NAME"}
		}, want: "the preStop hook runs /bin/sh"},
		{name: "targets stop together", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "podManagementPolicy: OrderedReady", "podManagementPolicy: Parallel")
		}, want: "podManagementPolicy Parallel stops targets together"},
		{name: "Service not headless", mutate: func(t *testing.T, m *manifests) {
			m.services[0].Spec.ClusterIP = ""
		}, want: "is not a headless Service"},
		{name: "every gateway joins", mutate: func(t *testing.T, m *manifests) {
			c := container(t, m, "ais-gateway-seed")
			c.Args = append(c.Args, "-join=http://ais-gateway-0.ais-gateway.$(NAMESPACE).svc:8080")
		}, want: "0 gateway StatefulSets start without -join"},
		{name: "join elsewhere", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "gateways.yaml", "-join=http://ais-gateway-seed-0.", "-join=http://ais-gateway-0.")
		}, want: "want the seed's stable name"},
		{name: "hook without the secret", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "                  - --secret-file=/etc/ais/secret/cluster-secret\n", "")
		}, want: "the preStop hook's --secret-file \"\" is not the node's"},
		{name: "drain past the grace period", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "terminationGracePeriodSeconds: 3600", "terminationGracePeriodSeconds: 600")
		}, want: "--timeout \"55m\" must end a minute before"},
		{name: "hook with a var", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "                  - --wait-rebalance\n", "                  - --wait-rebalance\n                  - $(POD_NAME)\n")
		}, want: "exec hooks do not expand it"},
		{name: "endpoint of targets", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "value: http://ais.$(NAMESPACE).svc:8080", "value: http://ais-target.$(NAMESPACE).svc:8080")
		}, want: "AIS_ENDPOINT Service ais-target selects no gateway"},
		{name: "seed without rejoin", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "gateways.yaml", "            - -rejoin=http://ais.$(NAMESPACE).svc:8080\n", "")
		}, want: "-rejoin \"\" is not SERVICE"},
		{name: "seed rejoins through itself", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "gateways.yaml", "-rejoin=http://ais.", "-rejoin=http://ais-gateway.")
		}, want: "-rejoin Service ais-gateway publishes gateways not ready"},
		{name: "url not stable", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "targets.yaml", "-url=http://$(POD_NAME).ais-target.", "-url=http://$(POD_NAME).ais-gateway.")
		}, want: "-url \"http://$(POD_NAME).ais-gateway.$(NAMESPACE).svc:8080\" must be"},
		{name: "even gateways", mutate: func(t *testing.T, m *manifests) {
			three := int32(3)
			statefulSet(t, m, "ais-gateway").Spec.Replicas = &three
		}, want: "4 gateways"},
		{name: "budget selects nothing", text: func(t *testing.T, fsys fstest.MapFS) {
			edit(t, fsys, "disruption.yaml", "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ais\n      app.kubernetes.io/component: gateway",
				"  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ais\n      app.kubernetes.io/component: gw")
		}, want: "PodDisruptionBudget ais-gateway selects no pod template"},
		{name: "root", mutate: func(t *testing.T, m *manifests) {
			statefulSet(t, m, "ais-target").Spec.Template.Spec.SecurityContext = nil
		}, want: "StatefulSet/ais-target: the pod securityContext"},
		{name: "no anti-affinity", mutate: func(t *testing.T, m *manifests) {
			statefulSet(t, m, "ais-target").Spec.Template.Spec.Affinity = nil
		}, want: "no pod anti-affinity"},
	}
	for _, tc := range checkTests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := copyDir(t)
			if tc.text != nil {
				tc.text(t, fsys)
			}
			m, err := load(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(t, m)
			}
			problems := check(m)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("problems %q lack %q", problems, tc.want)
			}
			t.Log(problems)
		})
	}
}
