package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/pipeline"
	"github.com/aisgo/aisgo/store"
)

func TestJobs(t *testing.T) {
	jobs := pipeline.NewJobs(nil)
	defer jobs.Close()
	b := store.NewBucket("b")
	release := make(chan struct{})
	id, err := jobs.Start(t.Context(), "", "make-n-copies", b, func(ctx context.Context, p *store.Progress) (any, error) {
		p.Add(10)
		select {
		case <-release:
			return map[string]int{"copies": 2}, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	})
	if err != nil || !strings.HasPrefix(id, "make-n-c") {
		t.Fatalf("start: %q %v", id, err)
	}
	// A second of the kind on the bucket is refused; another bucket is not.
	if _, err := jobs.Start(t.Context(), "", "make-n-copies", b, nil); !errors.Is(err, pipeline.ErrJobBusy) {
		t.Fatalf("a second make-n-copies: %v", err)
	}
	other, err := jobs.Start(t.Context(), "", "make-n-copies", store.NewBucket("c"), func(ctx context.Context, p *store.Progress) (any, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Start(t.Context(), "../x", "scrub", b, nil); !errors.Is(err, pipeline.ErrInvalidJobID) {
		t.Fatalf("a job id with a path: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if s, _ := jobs.Status(id); s.Objects == 1 && s.Bytes == 10 && s.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("progress not seen")
		}
	}
	close(release)
	s, err := jobs.Wait(t.Context(), id)
	if err != nil || s.Running || s.Error != "" || string(s.Result) != `{"copies":2}` || s.Finished.IsZero() {
		t.Fatalf("finished: %+v %v", s, err)
	}
	if err := jobs.Abort(other, errors.New("by the test")); err != nil {
		t.Fatal(err)
	}
	if s, _ := jobs.Status(other); !s.Aborted || !strings.Contains(s.Error, "by the test") {
		t.Fatalf("aborted: %+v", s)
	}
	if len(jobs.List()) != 2 {
		t.Fatalf("list: %+v", jobs.List())
	}
	if _, err := jobs.Status("nope"); !errors.Is(err, pipeline.ErrJobNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// A job replaced by one of its kind on its bucket is cancelled without a
// wait for its end (it may be in the middle of a big object), and the new
// one starts at once.
func TestReplacedJobMakesRoomAtOnce(t *testing.T) {
	jobs := pipeline.NewJobs(nil)
	b := store.NewBucket("b")
	release := make(chan struct{})
	defer close(release)
	old, err := jobs.Start(t.Context(), "", "make-n-copies", b, func(ctx context.Context, _ *store.Progress) (any, error) {
		<-ctx.Done()
		<-release // finishing the object it copies
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Start(t.Context(), "", "make-n-copies", b, func(context.Context, *store.Progress) (any, error) { return nil, nil }); !errors.Is(err, pipeline.ErrJobBusy) {
		t.Fatalf("a second job while the first runs: %v, want busy", err)
	}
	jobs.Replace(old, errors.New("props changed"))
	if _, err := jobs.Start(t.Context(), "", "make-n-copies", b, func(context.Context, *store.Progress) (any, error) { return nil, nil }); err != nil {
		t.Fatalf("a job in place of a replaced one: %v", err)
	}
}

// Ended jobs are kept up to a bound of each kind: many runs of one kind
// (an LRU run every few seconds on a full disk) do not push another
// kind's job (a download a user asks about) out.
func TestEndedJobsAreBoundedByKind(t *testing.T) {
	defer pipeline.SetMaxEndedJobs(2)()
	jobs := pipeline.NewJobs(nil)
	defer jobs.Close()
	done := func(context.Context, *store.Progress) (any, error) { return nil, nil }
	run := func(kind string) string {
		id, err := jobs.Start(t.Context(), "", kind, store.Bucket{}, done)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Wait(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	download := run("download")
	var lru []string
	for range 5 {
		lru = append(lru, run("lru"))
	}
	if _, err := jobs.Status(download); err != nil {
		t.Fatalf("the download after 5 LRU runs: %v", err)
	}
	if _, err := jobs.Status(lru[0]); !errors.Is(err, pipeline.ErrJobNotFound) {
		t.Fatalf("the oldest LRU run past the bound: %v, want it forgotten", err)
	}
	if n := len(jobs.List()); n > 4 {
		t.Fatalf("%d jobs kept, want at most 2 of each kind and the newest", n)
	}
}

// A job asked for once Close began is refused: started, it would run on
// past Close, on stores closing, with nothing to abort or wait for it.
func TestNoJobStartsAfterClose(t *testing.T) {
	j := pipeline.NewJobs(nil)
	j.Close()
	ran := make(chan struct{}, 1)
	_, err := j.Start(t.Context(), "", "lru", store.Bucket{}, func(context.Context, *store.Progress) (any, error) {
		ran <- struct{}{}
		return nil, nil
	})
	if !errors.Is(err, pipeline.ErrShuttingDown) {
		t.Fatalf("a job started after Close: %v, want ErrShuttingDown", err)
	}
	select {
	case <-ran:
		t.Fatal("the job ran after Close")
	case <-time.After(50 * time.Millisecond):
	}
}

// Jobs of a shared kind (many on one bucket at once) are bounded per
// node: a caller cannot start them without end; one ended makes room.
func TestSharedJobsAreBounded(t *testing.T) {
	jobs := pipeline.NewJobs(nil)
	defer jobs.Close()
	b := store.NewBucket("b")
	block := func(ctx context.Context, _ *store.Progress) (any, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	var first string
	for i := range pipeline.MaxSharedJobs {
		id, err := jobs.StartOnShared(t.Context(), "", "archive", b, nil, block)
		if err != nil {
			t.Fatalf("archive job %d: %v", i, err)
		}
		if first == "" {
			first = id
		}
	}
	_, err := jobs.StartOnShared(t.Context(), "", "archive", b, nil, block)
	if !errors.Is(err, pipeline.ErrJobBusy) || !strings.Contains(err.Error(), "64 archive jobs") {
		t.Fatalf("one past the bound: %v, want ErrJobBusy naming it", err)
	}
	// Another kind is not held back by this one's bound.
	if _, err := jobs.StartOnShared(t.Context(), "", "download", b, nil, block); err != nil {
		t.Fatalf("another kind: %v", err)
	}
	if err := jobs.Abort(first, errors.New("by hand")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := jobs.StartOnShared(t.Context(), "", "archive", b, nil, block)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one ended: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A registry that keeps its ended jobs of targets lists them again once
// loaded anew (a restarted target), with their counts; a job cut by the
// node's shutdown, a job of this node alone and a job removed are not
// kept.
func TestEndedJobsOfTargetsAreKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ended-jobs.json")
	b := store.NewBucket("b")
	jobs := pipeline.NewJobs(nil)
	jobs.Keep(path)
	counted := func(ctx context.Context, p *store.Progress) (any, error) {
		p.Objects.Add(3)
		p.Bytes.Add(30)
		return nil, nil
	}
	targets := []string{"t1", "t2"}
	for _, id := range []string{"copy-bck-1", "copy-bck-2"} {
		if _, err := jobs.StartOnShared(t.Context(), id, "copy-bck", b, targets, counted); err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Wait(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := jobs.Start(t.Context(), "lru-1", "lru", b, counted); err != nil {
		t.Fatal(err)
	}
	jobs.Wait(t.Context(), "lru-1")
	if err := jobs.Remove("copy-bck-2"); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	if _, err := jobs.StartOnShared(t.Context(), "copy-bck-3", "copy-bck", b, targets, func(ctx context.Context, p *store.Progress) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	jobs.Close() // cuts copy-bck-3

	// (Removed, copy-bck-2 moved the beginning of its kind's records.)
	since := jobs.KeptSince()
	again := pipeline.NewJobs(nil)
	again.Keep(path)
	if since[""].IsZero() || !again.KeptSince()[""].Equal(since[""]) || !again.KeptSince()["copy-bck"].Equal(since["copy-bck"]) || !since["copy-bck"].After(since[""]) {
		t.Fatalf("kept since %v after a restart, want %v, of copy-bck its own", again.KeptSince(), since)
	}
	var ids []string
	for _, s := range again.List() {
		ids = append(ids, s.ID)
		if s.Running || s.Objects != 3 || s.Bytes != 30 || len(s.Targets) != 2 || s.Finished.IsZero() {
			t.Errorf("a kept job: %+v", s)
		}
	}
	if len(ids) != 1 || ids[0] != "copy-bck-1" {
		t.Fatalf("jobs listed after a restart: %q, want copy-bck-1 only", ids)
	}
	// Kept jobs are ended ones: an abort leaves them, an id taken is taken.
	if err := again.Abort("copy-bck-1", errors.New("test")); err != nil {
		t.Fatal(err)
	}
	if _, err := again.StartOnShared(t.Context(), "copy-bck-1", "copy-bck", b, targets, counted); !errors.Is(err, pipeline.ErrJobExists) {
		t.Fatalf("a new job under a kept one's id: %v", err)
	}
	// A part too large to keep (a result of many failures) is not kept,
	// and the records begin after it.
	huge := func(ctx context.Context, p *store.Progress) (any, error) { return strings.Repeat("x", 300<<10), nil }
	if _, err := again.StartOnShared(t.Context(), "copy-bck-4", "copy-bck", b, targets, huge); err != nil {
		t.Fatal(err)
	}
	ended, _ := again.Wait(t.Context(), "copy-bck-4")
	if !again.KeptSince()["copy-bck"].Equal(since["copy-bck"]) {
		t.Fatalf("the records' beginning moved while the part too large to keep is listed: %v", again.KeptSince())
	}
	third := pipeline.NewJobs(nil)
	third.Keep(path)
	if _, err := third.Status("copy-bck-4"); err == nil || third.KeptSince()["copy-bck"].Before(ended.Finished) || !third.KeptSince()[""].Equal(since[""]) {
		t.Fatalf("a part too large to keep: kept since %v, it ended %v", third.KeptSince(), ended.Finished)
	}
	if _, err := third.Status("copy-bck-1"); err != nil {
		t.Fatalf("the others: %v", err)
	}
	// A file that does not read is no reason not to start.
	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := pipeline.NewJobs(nil)
	broken.Keep(path)
	if len(broken.List()) != 0 {
		t.Fatal("jobs listed from a broken file")
	}
}

// A kind not kept (a summary's) is not recorded, and is listed from this
// start only: its beginning is when Keep ran, whatever the file says.
func TestKindsNotKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ended-jobs.json")
	b := store.NewBucket("b")
	jobs := pipeline.NewJobs(nil)
	jobs.Keep(path, "summary")
	done := func(ctx context.Context, p *store.Progress) (any, error) { return nil, nil }
	for _, kind := range []string{"summary", "copy-bck"} {
		id := kind + "-1"
		if _, err := jobs.StartOnShared(t.Context(), id, kind, b, []string{"t1"}, done); err != nil {
			t.Fatal(err)
		}
		jobs.Wait(t.Context(), id)
	}
	jobs.Close()
	before := time.Now()
	again := pipeline.NewJobs(nil)
	again.Keep(path, "summary")
	if _, err := again.Status("summary-1"); err == nil {
		t.Fatal("a summary was kept across a restart")
	}
	if _, err := again.Status("copy-bck-1"); err != nil {
		t.Fatalf("the copy: %v", err)
	}
	if since := again.KeptSince(); since["summary"].Before(before) || !since[""].Before(before) {
		t.Fatalf("kept since %v: want the summary's from this start, the others' from before", since)
	}
}
