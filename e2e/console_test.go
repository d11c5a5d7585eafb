//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/cluster"
)

// chromium finds the browser the console tests drive: Debian's
// /usr/bin/chromium, or a chromium in PATH; "" when there is none.
func chromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// browser is a headless chromium with one tab on the web console of a
// cluster, and what the tab did that it should not have.
type browser struct {
	ctx     context.Context
	console string // http://HOST:PORT/console/
	shots   string

	mu         sync.Mutex
	shot       int
	dialogs    []string
	exceptions []string
}

// browserPage drives the browser's tab for one test or subtest.
type browserPage struct {
	*browser
	t *testing.T
}

// page drives the tab for t.
func (b *browser) page(t *testing.T) *browserPage { return &browserPage{browser: b, t: t} }

// openConsole starts the headless chromium at path on the console of the
// gateway at endpoint.
func openConsole(t *testing.T, path, endpoint string) *browser {
	t.Helper()
	options := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))
	allocator, cancelAllocator := chromedp.NewExecAllocator(t.Context(), options...)
	t.Cleanup(cancelAllocator)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(cancel)

	shots := os.Getenv("AIS_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", shots)
	b := &browser{ctx: ctx, console: strings.Split(endpoint, ",")[0] + "/console/", shots: shots}

	// Subscribed before the first page loads, so that nothing is missed:
	// every dialog is dismissed and recorded (a script injected through a
	// name would open one), and so is every uncaught exception.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, fmt.Sprintf("%s: %s", ev.Type, ev.Message))
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			text := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				text += " " + ev.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber+1, text))
			b.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.console)); err != nil {
		t.Fatalf("open %s in chromium: %v", b.console, err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("the console threw: %s", e)
		}
	})
	return b
}

// do runs browser steps; a failure fails the test with a screenshot.
func (b *browserPage) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browserPage, expression string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		b.fail("evaluate %s: %v", expression, err)
	}
	return v
}

// js quotes a string as a JavaScript literal.
func js(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}

// visit shows a page of the console by its fragment, as a link does.
func (b *browserPage) visit(fragment string) {
	b.t.Helper()
	eval[chromedp.Void](b, "location.hash = "+js(fragment))
}

// until waits for a JavaScript condition to hold in the page.
func (b *browserPage) until(what, condition string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](condition,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.fail("waiting %s for %s: %v", timeout, what, err)
	}
}

// untilLoaded waits for a condition in a page that is loading another:
// a poll that the navigation interrupts is tried again.
func (b *browserPage) untilLoaded(what, condition string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](condition))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fail("waiting %s for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the text of the first element a selector matches, or "".
func (b *browserPage) text(selector string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`document.querySelector(%s)?.textContent ?? ""`, js(selector)))
}

// screenshot saves the whole page as NN-name.png.
func (b *browserPage) screenshot(name string) {
	b.t.Helper()
	data, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.mu.Lock()
	b.shot++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.shot, name))
	b.mu.Unlock()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Error(err)
	}
}

// fail ends the test with what the page shows.
func (b *browserPage) fail(format string, args ...any) {
	b.t.Helper()
	shown, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.hash + "\n" + (document.querySelector("main")?.innerText ?? "")`))
	b.screenshot("failure")
	b.t.Fatalf(format+"\nthe page shows %s", append(args, shown)...)
}

// seenDialogs returns the dialogs opened so far and forgets them.
func (b *browser) seenDialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.dialogs
	b.dialogs = nil
	return out
}

// typeSpec replaces the spec in the start form by typing it.
func (b *browserPage) typeSpec(spec string) {
	b.t.Helper()
	b.do("find the spec", chromedp.WaitVisible(chromedp.ID("spec")))
	eval[chromedp.Void](b, `document.querySelector("#spec").value = ""`)
	b.do("type the spec", chromedp.SendKeys(chromedp.ID("spec"), spec))
}

// startJob types a spec, clicks Start and returns the id of the job whose
// page the console then shows.
func (b *browserPage) startJob(spec string) string {
	b.t.Helper()
	b.visit("#/jobs")
	b.typeSpec(spec)
	b.do("start", chromedp.Click(chromedp.ID("start")))
	b.until("the job's page", `location.hash.startsWith("#/jobs/dsort/") && document.querySelector("#job-id") !== null`, 10*time.Second)
	return b.text("#job-id")
}

// The web console in a browser, on a cluster of real processes: the nodes,
// a dSort job started, followed and aborted from the page, its output in
// the bucket browser with a shard's members, a refused spec explained
// beside the field, names that look like markup shown as text, a job that
// does not exist, and the live charts. Each page is kept as a screenshot.
func TestConsole(t *testing.T) {
	path := chromium()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's chromium package)")
		}
		t.Skip("the web console tests need chromium (/usr/bin/chromium or chromium in PATH; .ci/run installs Debian's): skipped")
	}
	c := startCLICluster(t, 1, 2)
	ctx := t.Context()
	console := openConsole(t, path, c.endpoint)
	client := c.client()

	t.Run("cluster", func(t *testing.T) {
		b := console.page(t)
		m, err := client.Map(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, n := range m.Nodes {
			want = append(want, n.ID)
		}
		slices.Sort(want)
		b.visit("#/cluster")
		b.until("every node", `document.querySelectorAll("#nodes tr[data-node]").length === 3`, 10*time.Second)
		if eval[bool](b, `document.querySelector("#loading") !== null`) {
			t.Error("the page still says Loading once its script runs")
		}
		b.until("the capacity bars", `document.querySelectorAll("#capacity .target-capacity .bar .mark").length >= 4`, 10*time.Second)
		got := eval[[]string](b, `[...document.querySelectorAll("#nodes tr[data-node]")].map((r) => r.dataset.node).sort()`)
		if !slices.Equal(got, want) {
			t.Errorf("the cluster page shows nodes %q, the map has %q", got, want)
		}
		// Figures at the units' edges, and mountpaths on one filesystem
		// counted once.
		for expression, want := range map[string]string{
			`bytes(1048575)`:     "1.00 MiB",
			`bytes(1023)`:        "1023 B",
			`duration(179.6e9)`:  "3 min 0 s",
			`duration(119.96e9)`: "2 min 0 s",
			`duration(999.7e6)`:  "1.00 s",
			`duration(7199.9e9)`: "2 h 0 min",
			`JSON.stringify(sumCapacity([{path: "/a", filesystem: "sda", used: 90, total: 100}, {path: "/b", filesystem: "sda", used: 90, total: 100}, {path: "/c", used: 10, total: 100}]))`: `{"used":100,"total":200,"fraction":0.5}`,
		} {
			if got := eval[string](b, expression); got != want {
				t.Errorf("%s = %q, want %q", expression, got, want)
			}
		}
		if primary := b.text(`#nodes tr[data-node="` + m.Primary + `"]`); !strings.Contains(primary, "primary") {
			t.Errorf("the primary's row does not say so: %q", primary)
		}
		b.screenshot("cluster")
		b.do("open a target", chromedp.Click(chromedp.CSS(`#nodes tr[data-node="t1"] a`)))
		b.until("the target's memory and uptime", `/Uptime/.test(document.querySelector("#node-details")?.textContent ?? "")`, 10*time.Second)
		b.screenshot("cluster-node")
	})

	ais(t, c.endpoint, "bucket", "create", "ais://src")
	ais(t, c.endpoint, "archive", "gen-shards", "ais://src/in-{00..07}.tar", "--records", "20", "--record-size", "4KiB", "--exts", ".jpg,.cls")

	var shards []string
	t.Run("dsort-started-from-the-page", func(t *testing.T) {
		b := console.page(t)
		id := b.startJob(`{"input_bck": {"name": "src"}, "output_bck": {"name": "dst"}, "input_format": {"template": "in-{00..07}.tar"},` +
			` "output_format": "out-{00..99}.tar", "output_shard_size": "100KiB", "algorithm": {"kind": "shuffle", "seed": "7"}}`)
		b.until("the job to finish", `document.querySelector("#job-state")?.textContent === "finished"`, 30*time.Second)
		b.until("both targets' progress", `document.querySelectorAll("#job-targets tr[data-target]").length === 2`, 5*time.Second)
		if phases := b.text("#job-phases"); !strings.Contains(phases, "8/8 shards") || !strings.Contains(phases, "160 records") {
			t.Errorf("the phases do not show the 8 input shards and their 160 records: %q", phases)
		}
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if sum := api.DsortSummary(metrics); !sum.Archived || sum.Aborted {
			t.Fatalf("the cluster says job %s is %+v, the page finished", id, sum)
		}
		b.screenshot("dsort-finished")
		b.visit("#/jobs")
		b.until("the job in the list", fmt.Sprintf(`document.querySelector('#dsort-jobs tr[data-job=%s]')?.textContent.includes("finished")`, js(id)), 10*time.Second)
		b.screenshot("jobs")
		for e, err := range client.ListAll(ctx, "dst", api.ListObjectsMessage{}) {
			if err != nil {
				t.Fatal(err)
			}
			shards = append(shards, e.Name)
		}
	})

	t.Run("output-link-names-the-provider", func(t *testing.T) {
		b := console.page(t)
		link := func(provider string) string {
			return eval[string](b, `(() => { const dl = document.createElement("dl");
				showJobSummary(dl, [["t1", {"src-bck": {name: "src", provider: "ais"}, "dst-bck": {name: "out", provider: `+js(provider)+`}}]]);
				return dl.querySelector("#job-output").getAttribute("href"); })()`)
		}
		for provider, want := range map[string]string{"s3": "#/buckets/out?provider=s3", "ais": "#/buckets/out"} {
			if got := link(provider); got != want {
				t.Errorf("a job's output in %s://out links to %q, want %q", provider, got, want)
			}
		}
	})

	t.Run("estimate-beside-the-spec", func(t *testing.T) {
		b := console.page(t)
		b.visit("#/jobs")
		b.typeSpec(`{"input_bck": {"name": "src"}, "output_bck": {"name": "est"}, "input_format": {"template": "in-{00..07}.tar"},` +
			` "output_format": "e-{00..99}.tar", "output_shard_size": "100KiB", "dry_run": "estimate"}`)
		b.do("estimate", chromedp.Click(chromedp.ID("start")))
		b.until("the estimate", `document.querySelector("#spec-estimate") !== null`, 30*time.Second)
		if hash := eval[string](b, "location.hash"); hash != "#/jobs" {
			t.Errorf("an estimate went to %q, not staying on #/jobs", hash)
		}
		shown := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#spec-estimate dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))`)
		if shown["Input shards"] != "8" || shown["Records"] != "160" || !strings.HasPrefix(shown["Input"], "ais://src") {
			t.Errorf("the estimate shows %q, want 8 input shards of ais://src and 160 records", shown)
		}
		if n := eval[int](b, `document.querySelectorAll("#spec-estimate-targets tr[data-target]").length`); n != 2 {
			t.Errorf("the estimate shows %d targets, want 2", n)
		}
		b.screenshot("dsort-estimate")
		if _, err := client.BucketProps(ctx, "est"); err == nil {
			t.Error("an estimate made the output bucket")
		}
	})

	t.Run("other-jobs", func(t *testing.T) {
		b := console.page(t)
		id, err := client.CopyBucket(ctx, "src", "copied", api.CopyBucketMessage{})
		if err != nil {
			t.Fatal(err)
		}
		job, err := client.WaitJob(ctx, id, 100*time.Millisecond)
		if err != nil || job.Objects == 0 {
			t.Fatalf("the copy: %+v, %v", job, err)
		}
		b.visit("#/jobs")
		row := fmt.Sprintf(`#other-jobs tr[data-job=%s]`, js(id))
		b.until("the copy in the list", fmt.Sprintf(`document.querySelector('%s')?.textContent.includes("finished")`, row), 10*time.Second)
		cells := eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll('%s td')].map((td) => td.textContent)`, row))
		// Job, Kind, Bucket, State, Targets, Objects, Bytes, Started, Took.
		if len(cells) < 9 || cells[5] != fmt.Sprint(job.Objects) || cells[6] == "0 B" || cells[7] == "—" || cells[8] == "—" {
			t.Errorf("the copy's row shows %q: want %d objects, its bytes, when it started and how long it took", cells, job.Objects)
		}
		b.screenshot("other-jobs")
	})

	t.Run("output-in-the-bucket-browser", func(t *testing.T) {
		b := console.page(t)
		if len(shards) == 0 {
			t.Fatal("no output shards: the job before did not make them")
		}
		b.do("open the buckets", chromedp.Click(chromedp.CSS(`nav a[data-page="buckets"]`)))
		b.until("the buckets", `document.querySelector('#buckets tr[data-bucket="dst"] a') !== null`, 10*time.Second)
		b.screenshot("buckets")
		b.do("open the output bucket", chromedp.Click(chromedp.CSS(`#buckets tr[data-bucket="dst"] a`)))
		b.until("the output shards", fmt.Sprintf(`document.querySelectorAll("#objects tr[data-name]").length === %d`, len(shards)), 10*time.Second)
		got := eval[[]string](b, `[...document.querySelectorAll("#objects tr[data-name] td.name")].map((td) => td.textContent)`)
		if !slices.Equal(got, shards) {
			t.Errorf("the bucket browser shows %q, the bucket has %q", got, shards)
		}
		shard := shards[0]
		b.do("open a shard", chromedp.Click(chromedp.CSS(`#objects tr[data-name="`+shard+`"] a`)))
		// Its details first; its members (a read of the whole shard) when
		// asked for.
		b.until("the shard's details", `document.querySelector("#show-members") !== null`, 10*time.Second)
		if n := eval[int](b, `document.querySelectorAll("#members").length`); n != 0 {
			t.Errorf("the shard's members were listed before they were asked for")
		}
		b.do("show the members", chromedp.Click(chromedp.CSS(`#show-members`)))
		b.until("the shard's members", `document.querySelectorAll("#members tbody tr:not(.empty)").length > 0`, 10*time.Second)
		var want []string
		for e, err := range client.ListAll(ctx, "dst", api.ListObjectsMessage{Prefix: shard, Flags: api.ListArchive}) {
			if err != nil {
				t.Fatal(err)
			}
			if member, ok := strings.CutPrefix(e.Name, shard+"/"); ok {
				want = append(want, member)
			}
		}
		members := eval[[]string](b, `[...document.querySelectorAll("#members tbody tr td:first-child")].map((td) => td.textContent)`)
		if len(want) == 0 || !slices.Equal(members, want) {
			t.Errorf("the console lists %d members of %s, the cluster %d: %q", len(members), shard, len(want), members)
		}
		if name := b.text("#object-name"); name != shard {
			t.Errorf("the details name %q, not %q", name, shard)
		}
		b.screenshot("bucket-shard-members")
	})

	t.Run("invalid-spec-beside-the-field", func(t *testing.T) {
		b := console.page(t)
		b.visit("#/jobs")
		b.typeSpec("{\n  \"input_bck\": {\"name\": \"src\"},\n  \"output_bck\": {\"name\": \"bad\"},\n  \"input_format\": {\"template\": \"in-{00..07}.tar\"},\n" +
			"  \"output_format\": \"out-{00..99}.tar\",\n  \"output_shard_size\": \"lots\"\n}")
		b.do("start", chromedp.Click(chromedp.ID("start")))
		b.until("the error", `document.querySelector("#spec-field") !== null`, 10*time.Second)
		if field := b.text("#spec-field"); field != "output_shard_size" {
			t.Errorf("the error names field %q, not output_shard_size", field)
		}
		if line := b.text("#spec-line"); !strings.Contains(line, "line 6") || !strings.Contains(line, `"output_shard_size": "lots"`) {
			t.Errorf("the error does not show the field's line: %q", line)
		}
		if message := b.text("#spec-error"); !strings.Contains(message, "is not a size") {
			t.Errorf("the error does not say what is wrong: %q", message)
		}
		if !eval[bool](b, `document.querySelector("#spec").classList.contains("invalid")`) {
			t.Error("the textarea is not marked invalid")
		}
		// Beside: to the right of the textarea, at its height.
		if !eval[bool](b, `(() => { const s = document.querySelector("#spec").getBoundingClientRect(); const e = document.querySelector("#spec-error").getBoundingClientRect();
			return e.left >= s.right && e.top < s.bottom && e.bottom > s.top; })()`) {
			t.Error("the error is not beside the textarea")
		}
		if !strings.HasPrefix(b.text("main"), "Jobs") || !strings.Contains(eval[string](b, "location.hash"), "#/jobs") {
			t.Error("a refused spec left the jobs page")
		}
		b.screenshot("dsort-invalid-spec")
	})

	t.Run("abort-from-the-page", func(t *testing.T) {
		b := console.page(t)
		// Many small records make a job that runs for seconds.
		ais(t, c.endpoint, "archive", "gen-shards", "ais://src/many-{00..11}.tar", "--records", "20000", "--record-size", "64B", "--exts", ".jpg,.cls")
		id := b.startJob(`{"input_bck": {"name": "src"}, "output_bck": {"name": "slow"}, "input_format": {"template": "many-{00..11}.tar"},` +
			` "output_format": "s-{0000..9999}.tgz", "output_shard_size": "512KiB", "algorithm": {"kind": "shuffle"},` +
			` "extract_concurrency_max_limit": 1, "create_concurrency_max_limit": 1}`)
		b.until("the job to run", `document.querySelector("#job-state")?.textContent === "running" && !document.querySelector("#abort").disabled`, 10*time.Second)
		b.do("abort", chromedp.Click(chromedp.ID("abort")))
		if label := b.text("#abort"); !strings.Contains(label, "again") {
			t.Errorf("the first click should ask for a second one: %q", label)
		}
		b.do("confirm the abort", chromedp.Click(chromedp.ID("abort")))
		// While the abort waits for the targets, the page says so: never
		// "running" with Abort to click again.
		// The first such moment is kept, with what the page said then.
		eval[chromedp.Void](b, `window.reenabled = ""; window.watchAbort = setInterval(() => {
			const state = document.querySelector("#job-state")?.textContent, button = document.querySelector("#abort");
			if (!window.reenabled && (state === "running" || !button.disabled)) {
				window.reenabled = JSON.stringify({state, disabled: button.disabled, label: button.textContent,
					notice: document.querySelector("#job-notice")?.textContent, error: document.querySelector("#job-action-error")?.textContent});
			} }, 20)`)
		b.until("the job to be aborted", `document.querySelector("#job-state")?.textContent === "aborted"`, 30*time.Second)
		if seen := eval[string](b, `(clearInterval(window.watchAbort), window.reenabled)`); seen != "" {
			t.Errorf("while its abort was under way, the job was shown running with Abort enabled: %s", seen)
		}
		b.until("the targets' errors", `document.querySelector("#job-error-list") !== null`, 10*time.Second)
		metrics, err := client.DsortMetrics(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(metrics) != 2 {
			t.Errorf("%d targets report the job, want 2", len(metrics))
		}
		for target, info := range metrics {
			if !info.Aborted || info.Archived {
				t.Errorf("target %s: the job is not aborted there: aborted %v, finished %v", target, info.Aborted, info.Archived)
			}
		}
		if errs := b.text("#job-error-list"); !strings.Contains(errs, "t1") && !strings.Contains(errs, "t2") {
			t.Errorf("the errors do not name a target: %q", errs)
		}
		b.screenshot("dsort-aborted")
		c.waitEmpty("slow")
	})

	t.Run("names-are-text", func(t *testing.T) {
		b := console.page(t)
		// The dialog listener works: a dialog the test opens is seen.
		eval[chromedp.Void](b, `setTimeout(() => alert("probe"), 0)`)
		var probes []string
		for deadline := time.Now().Add(10 * time.Second); len(probes) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			probes = append(probes, b.seenDialogs()...)
		}
		time.Sleep(200 * time.Millisecond) // (a second would be seen by now)
		if probes = append(probes, b.seenDialogs()...); len(probes) != 1 {
			t.Fatalf("the test's own alert was seen %d times: %q", len(probes), probes)
		}
		names := []string{`<img src=x onerror=alert(1)>`, `"><svg onload=alert(2)>.tar`, `<script>alert(3)</script>`, `a&amp;b <b>bold</b>`}
		ais(t, c.endpoint, "bucket", "create", "ais://xss")
		for _, name := range names {
			if _, err := client.Put(ctx, "xss", name, strings.NewReader("<img src=x onerror=alert(5)>"), api.PutOptions{}); err != nil {
				t.Fatalf("put %q: %v", name, err)
			}
		}
		slices.Sort(names)
		b.visit("#/buckets/xss")
		b.until("the objects", `document.querySelectorAll("#objects tr[data-name]").length === 4`, 10*time.Second)
		got := eval[[]string](b, `[...document.querySelectorAll("#objects tr[data-name] td.name")].map((td) => td.textContent)`)
		if !slices.Equal(got, names) {
			t.Errorf("the names shown are %q, not %q", got, names)
		}
		eval[chromedp.Void](b, fmt.Sprintf(`[...document.querySelectorAll("#objects td.name a")].find((a) => a.textContent === %s).click()`, js(names[0])))
		b.until("the object's details", fmt.Sprintf(`document.querySelector("#object-name")?.textContent === %s`, js(names[0])), 10*time.Second)
		b.screenshot("names-are-text")
		b.visit("#/buckets/" + `%3Cimg%20src%3Dx%20onerror%3Dalert(4)%3E`)
		b.until("the refused bucket name", `(document.querySelector("#bucket-error")?.textContent ?? "").includes("<img")`, 10*time.Second)
		b.visit("#/jobs/dsort/" + `%3Cimg%20src%3Dx%20onerror%3Dalert(6)%3E`)
		b.until("the job's answer", `document.querySelector("#job-error:not([hidden])") !== null || document.querySelector("#job-missing") !== null`, 10*time.Second)
		if n := eval[int](b, `document.querySelectorAll("main img, main svg, main script, main b").length`); n != 0 {
			t.Errorf("%d elements were made of names", n)
		}
		time.Sleep(500 * time.Millisecond)
		if dialogs := b.seenDialogs(); len(dialogs) > 0 {
			t.Errorf("names that look like markup ran as scripts: %q", dialogs)
		}
	})

	t.Run("job-not-found", func(t *testing.T) {
		b := console.page(t)
		b.visit("#/jobs/dsort/srt-000000000000")
		b.until("not found", `document.querySelector("#job-state")?.textContent === "not found"`, 10*time.Second)
		if missing := b.text("#job-missing"); !strings.Contains(missing, "not found") {
			t.Errorf("the page says %q", missing)
		}
		b.screenshot("dsort-not-found")
	})

	t.Run("metrics", func(t *testing.T) {
		b := console.page(t)
		b.do("open the metrics", chromedp.Click(chromedp.CSS(`nav a[data-page="metrics"]`)))
		// Requests the gateway counts (listings, and object GETs it
		// redirects), until the charts show them.
		gateway := strings.Split(c.endpoint, ",")[0]
		load, stop := context.WithCancel(ctx)
		defer stop()
		paths := []string{"/v1/buckets/src?pagesize=5", "/v1/objects/src/in-00.tar"}
		go func() {
			for load.Err() == nil {
				for _, path := range paths {
					if resp, err := http.Get(gateway + path); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		for _, series := range []string{"list", "get"} {
			b.until("the rate of "+series, fmt.Sprintf(`!["0.00/s", "—", undefined].includes(document.querySelector('#chart-requests + .legend [data-series=%q] strong')?.textContent)`, series), 15*time.Second)
		}
		b.until("the throughput and latency", `["#chart-throughput", "#chart-latency"].every((id) => document.querySelector(id + " + .legend strong")?.textContent !== "—")`, 15*time.Second)
		if n := eval[int](b, `document.querySelectorAll("#main canvas").length`); n < 4 {
			t.Errorf("%d charts", n)
		}
		time.Sleep(3 * time.Second) // lines, not points, in the screenshot
		b.screenshot("metrics")
	})

	// Last: it stops a target. Its objects are away, not gone, and the
	// bucket browser says so rather than show part of a bucket as whole.
	t.Run("a-target-away", func(t *testing.T) {
		b := console.page(t)
		c.kill9("t2")
		c.waitState("t2", cluster.StateOffline)
		var left []string
		for e, err := range client.ListAll(ctx, "src", api.ListObjectsMessage{}) {
			if err == nil {
				left = append(left, e.Name)
			}
		}
		var away string
		for i := range 8 {
			if name := fmt.Sprintf("in-%02d.tar", i); !slices.Contains(left, name) {
				away = name
			}
		}
		if away == "" {
			t.Fatalf("every input shard is listed with t2 offline: %q", left)
		}
		b.visit("#/buckets/src")
		b.until("the note that t2 was not listed", `(document.querySelector("#listing-incomplete")?.textContent ?? "").includes("t2")`, 15*time.Second)
		b.visit("#/buckets/src?object=" + away)
		b.until("the object's details", `document.querySelector("#object-missing") !== null`, 10*time.Second)
		if text := b.text("#object-missing"); !strings.Contains(text, "t2") || strings.Contains(text, "not found") {
			t.Errorf("object %s, on t2, is shown as %q: not found, rather than away with t2", away, text)
		}
		b.screenshot("target-away")
	})

	// A gateway that stops answering (its process frozen: connections
	// stay open, nothing comes back) shows as such, in time, rather than
	// as the last good state with every page's refresh stuck.
	t.Run("a-gateway-frozen", func(t *testing.T) {
		b := console.page(t)
		b.visit("#/cluster")
		b.until("the connection shown", `document.querySelector("#connection").className === "connection ok"`, 10*time.Second)
		var pid int
		for _, n := range c.state() {
			if n.Name == "g1" {
				pid = n.PID
			}
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(pid, syscall.SIGCONT)
		b.until("the frozen gateway shown down", `document.querySelector("#connection").className === "connection down" && document.querySelector("#connection").textContent.includes("not answering")`, 40*time.Second)
		b.screenshot("gateway-frozen")
	})
}

// The console of a cluster that checks tokens: the login form keeps the
// token in a cookie no script reads, the pages and a download link work
// with it, and Log out ends it.
func TestConsoleWithAuth(t *testing.T) {
	path := chromium()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's chromium package)")
		}
		t.Skip("the web console tests need chromium (/usr/bin/chromium or chromium in PATH; .ci/run installs Debian's): skipped")
	}
	dir := t.TempDir()
	admin, user, endpoint := startAuthCluster(t, dir)
	admin.must("auth", "login", "admin", "-p", "admin-pass")
	admin.must("bucket", "create", "ais://b")
	src := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(src, []byte("the bytes of the report"), 0o644); err != nil {
		t.Fatal(err)
	}
	admin.must("put", src, "ais://b/docs/report.txt")

	console := openConsole(t, path, endpoint)
	b := console.page(t)
	b.until("the login form", `document.querySelector("textarea[name=token]") !== null`, 10*time.Second)
	eval[chromedp.Void](b, `document.querySelector("textarea[name=token]").value = `+js(admin.token()))
	b.do("log in", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	b.untilLoaded("the console, logged in as admin", `document.querySelector("#user")?.textContent === "admin"`, 10*time.Second)
	if eval[bool](b, `document.cookie.includes("ais_token")`) {
		t.Errorf("the page's script reads the login cookie: %q", eval[string](b, `document.cookie`))
	}
	b.visit("#/buckets/b?prefix=docs/")
	b.until("the object", `document.querySelector('#objects tr[data-name="docs/report.txt"] a') !== null`, 10*time.Second)
	b.do("open the object", chromedp.Click(chromedp.CSS(`#objects tr[data-name="docs/report.txt"] a`)))
	b.until("the Download link", `[...document.querySelectorAll("a[download]")].length === 1`, 10*time.Second)
	b.screenshot("auth-object")

	downloads := filepath.Join(dir, "downloads")
	if err := os.MkdirAll(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	b.do("download", chromedp.Click(chromedp.CSS(`a[download]`)))
	var got []byte
	for deadline := time.Now().Add(15 * time.Second); ; {
		got, _ = os.ReadFile(filepath.Join(downloads, "report.txt"))
		if string(got) == "the bytes of the report" {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			b.fail("the Download link saved %q (files %v), not the object", got, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}

	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.untilLoaded("the login form again", `document.querySelector("textarea[name=token]") !== null`, 10*time.Second)

	// A read-only user sees the console; a node's own figures, an admin's,
	// are refused once, said so, and not asked for again.
	admin.must("auth", "add", "user", "reader", "-p", "reader-pass", "--role", "read-only")
	reader := user("reader")
	reader.must("auth", "login", "reader", "-p", "reader-pass")
	eval[chromedp.Void](b, `document.querySelector("textarea[name=token]").value = `+js(reader.token()))
	b.do("log in as the reader", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	b.untilLoaded("the console, logged in as reader", `document.querySelector("#user")?.textContent === "reader"`, 10*time.Second)
	eval[chromedp.Void](b, `(() => { window.daemonCalls = 0; const fetch = window.fetch;
		window.fetch = (url, init) => { if (String(url).includes("/reverse/daemon")) window.daemonCalls++; return fetch(url, init); }; })()`)
	b.visit("#/cluster")
	b.until("the nodes", `document.querySelector("#nodes tr[data-node] a") !== null`, 10*time.Second)
	b.do("open a node", chromedp.Click(chromedp.CSS(`#nodes tr[data-node] a`)))
	b.until("the refusal", `document.querySelector("#node-forbidden") !== null`, 10*time.Second)
	if text := b.text("#node-forbidden"); !strings.Contains(text, "admin permission") || !strings.Contains(text, "ADMIN") {
		t.Errorf("the node's details say %q, not that they need admin permission", text)
	}
	time.Sleep(5 * time.Second) // past the poll's retry after one failure (4 s)
	if calls := eval[int](b, "window.daemonCalls"); calls != 1 {
		t.Errorf("the node's details were asked for %d times, want once", calls)
	}
	b.screenshot("auth-node-needs-admin")
	if dialogs := console.seenDialogs(); len(dialogs) > 0 {
		t.Errorf("the console opened dialogs: %q", dialogs)
	}
}
