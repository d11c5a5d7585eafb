package gateway_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/gateway/gatewaytest"
)

// The archive action writes the selected objects of a bucket, from every
// target, in order into one shard: by template, by prefix (not below its
// directories with non-recurs), appended to a shard, with names as asked;
// a missing object fails the job and stores nothing, unless coer.
func TestArchiveObjectsIntoShard(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 3, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	for _, b := range []string{"raw", "shards"} {
		if err := client.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	body := func(name string) string { return "bytes of " + name }
	names := []string{"img/sub/x.jpg"}
	for i := range 20 {
		names = append(names, fmt.Sprintf("img/%04d.jpg", i))
	}
	for _, name := range names {
		if _, err := client.Put(ctx, "raw", name, strings.NewReader(body(name)), api.PutOptions{Size: int64(len(body(name)))}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(msg api.ArchiveMessage) api.ClusterJob {
		t.Helper()
		id, err := client.Archive(ctx, "raw", msg)
		if err != nil {
			t.Fatalf("archive %s: %v", msg.ArchName, err)
		}
		job, err := client.WaitJob(ctx, id, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	read := func(bucket, shard, ext string) ([]string, map[string]string) {
		t.Helper()
		data, err := client.GetBytes(ctx, bucket, shard, api.GetOptions{})
		if err != nil {
			t.Fatalf("%s/%s: %v", bucket, shard, err)
		}
		return readArchive(t, ext, data)
	}

	job := run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-0.tar", ListRange: api.ListRange{Template: "img/{0005..0009}.jpg"}})
	if len(job.Errors) > 0 || job.Objects != 5 {
		t.Fatalf("archive by template: %+v", job)
	}
	got, contents := read("shards", "s-0.tar", ".tar")
	if strings.Join(got, " ") != "img/0005.jpg img/0006.jpg img/0007.jpg img/0008.jpg img/0009.jpg" || contents["img/0007.jpg"] != body("img/0007.jpg") {
		t.Fatalf("the shard by template: %v", got)
	}

	job = run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "all.tgz", ListRange: api.ListRange{Template: "img/"}, NonRecursive: true, BaseNameOnly: true})
	if got, _ := read("shards", "all.tgz", ".tgz"); len(job.Errors) > 0 || len(got) != 20 || got[0] != "0000.jpg" || got[19] != "0019.jpg" {
		t.Fatalf("the shard by prefix, base names, not recursive: %v", got)
	}
	// A prefix without its slash names the directory too, as a
	// listing's: its own objects, not those below.
	job = run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "level.tar", ListRange: api.ListRange{Template: "img"}, NonRecursive: true})
	if got, _ := read("shards", "level.tar", ".tar"); len(job.Errors) > 0 || len(got) != 20 || got[0] != "img/0000.jpg" {
		t.Fatalf("the shard by a prefix without its slash, not recursive: %v", got)
	}

	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-0.tar", ListRange: api.ListRange{ObjNames: []string{"img/sub/x.jpg"}}, AppendIfExists: true, InclSrcBname: true})
	if got, contents := read("shards", "s-0.tar", ".tar"); len(got) != 6 || got[5] != "raw/img/sub/x.jpg" || contents["raw/img/sub/x.jpg"] != body("img/sub/x.jpg") {
		t.Fatalf("appended: %v", got)
	}

	// Appended again, an object of a member's name replaces it in its
	// place: one member of the name, the new bytes.
	if _, err := client.Put(ctx, "raw", "img/0007.jpg", strings.NewReader("new bytes"), api.PutOptions{Size: 9}); err != nil {
		t.Fatal(err)
	}
	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-0.tar", ListRange: api.ListRange{ObjNames: []string{"img/0007.jpg"}}, AppendIfExists: true})
	if got, contents := read("shards", "s-0.tar", ".tar"); strings.Join(got, " ") != "img/0005.jpg img/0006.jpg img/0007.jpg img/0008.jpg img/0009.jpg raw/img/sub/x.jpg" || contents["img/0007.jpg"] != "new bytes" {
		t.Fatalf("appended an object of a member's name: %v, want it in its place", got)
	}
	// An object whose member would be a directory of the shard's files
	// (or under one) is refused: tar and unzip could not extract both.
	if _, err := client.Put(ctx, "raw", "q/img", strings.NewReader("clash"), api.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	clash := api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-0.tar", ListRange: api.ListRange{ObjNames: []string{"q/img"}}, BaseNameOnly: true, AppendIfExists: true}
	if id, err := client.Archive(ctx, "raw", clash); err == nil {
		job, err := client.WaitJob(ctx, id, 20*time.Millisecond)
		if err == nil && !strings.Contains(fmt.Sprint(job.Errors), "directory") {
			t.Fatalf("a member img appended beside img/0005.jpg: %+v, want refused", job)
		}
	} else if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a member img appended beside img/0005.jpg: %v, want 409", err)
	}
	if got, _ := read("shards", "s-0.tar", ".tar"); len(got) != 6 {
		t.Fatalf("the shard after a refused append: %v", got)
	}
	// Objects that join records of the shard go right after them, one
	// that replaces a file in its place, a new record last: no record
	// split in two (a second sample of its key for WebDataset's readers).
	for _, name := range []string{"rec/s1.cls", "rec/s1.jpg", "rec/s2.cls", "rec/s2.jpg"} {
		if _, err := client.Put(ctx, "raw", name, strings.NewReader(body(name)), api.PutOptions{Size: int64(len(body(name)))}); err != nil {
			t.Fatal(err)
		}
	}
	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "rec.tar", ListRange: api.ListRange{Template: "rec/"}, BaseNameOnly: true})
	for _, name := range []string{"rec/s3.jpg", "rec/s2.txt", "rec/s1.jpg"} {
		if _, err := client.Put(ctx, "raw", name, strings.NewReader("new "+name), api.PutOptions{Size: int64(len("new " + name))}); err != nil {
			t.Fatal(err)
		}
	}
	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "rec.tar", ListRange: api.ListRange{ObjNames: []string{"rec/s3.jpg", "rec/s2.txt", "rec/s1.jpg"}}, BaseNameOnly: true, AppendIfExists: true})
	if got, contents := read("shards", "rec.tar", ".tar"); strings.Join(got, " ") != "s1.cls s1.jpg s2.cls s2.jpg s2.txt s3.jpg" || contents["s1.jpg"] != "new rec/s1.jpg" || contents["s2.cls"] != body("rec/s2.cls") {
		t.Fatalf("appended to records: %v %q, want each object with its record", got, contents)
	}
	if data, err := client.GetBytes(ctx, "shards", "s-0.tar", api.GetOptions{ArchPath: "img/0007.jpg"}); err != nil || string(data) != "new bytes" {
		t.Fatalf("the member read by archpath: %q, %v", data, err)
	}
	// An object gone since (coer) keeps the member of its name.
	if _, err := client.Put(ctx, "raw", "img/tmp.jpg", strings.NewReader("kept"), api.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-1.tar", ListRange: api.ListRange{ObjNames: []string{"img/tmp.jpg"}}})
	if err := client.Delete(ctx, "raw", "img/tmp.jpg"); err != nil {
		t.Fatal(err)
	}
	run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s-1.tar", ListRange: api.ListRange{ObjNames: []string{"img/tmp.jpg", "img/0001.jpg"}}, AppendIfExists: true, ContinueOnError: true})
	if got, contents := read("shards", "s-1.tar", ".tar"); len(got) != 2 || contents["img/tmp.jpg"] != "kept" || contents["img/0001.jpg"] != body("img/0001.jpg") {
		t.Fatalf("appended with a replacing object gone: %v %q", got, contents)
	}
	// Nothing to archive (a prefix that matches nothing, every object
	// missing): the job fails and the shard stays as it was.
	before, _ := read("shards", "all.tgz", ".tgz")
	for _, msg := range []api.ArchiveMessage{
		{ToBck: api.Bck{Name: "shards"}, ArchName: "all.tgz", ListRange: api.ListRange{Template: "trian/"}},
		{ToBck: api.Bck{Name: "shards"}, ArchName: "all.tgz", ListRange: api.ListRange{ObjNames: []string{"gone-1", "gone-2"}}, ContinueOnError: true},
	} {
		if job := run(msg); len(job.Errors) == 0 || !strings.Contains(strings.Join(job.Errors, " "), "nothing to archive") && !strings.Contains(strings.Join(job.Errors, " "), "none of the 2") {
			t.Errorf("archive %+v: %+v, want failed", msg.ListRange, job)
		}
		if got, _ := read("shards", "all.tgz", ".tgz"); !slices.Equal(got, before) {
			t.Errorf("archive %+v changed the shard: %v", msg.ListRange, got)
		}
	}
	// Two objects that would be one member: refused.
	if _, err := client.Put(ctx, "raw", "other/0002.jpg", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []api.ArchiveMessage{
		{ArchName: "dup.tar", ListRange: api.ListRange{ObjNames: []string{"img/0002.jpg", "other/0002.jpg"}}, BaseNameOnly: true},
	} {
		if job := run(msg); len(job.Errors) == 0 || !strings.Contains(strings.Join(job.Errors, " "), `member "`) {
			t.Errorf("archive %+v: %+v, want refused naming the member", msg.ListRange, job)
		}
	}
	if _, err := client.Head(ctx, "raw", "dup.tar"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused archive job stored %v", err)
	}
	// An object name the store takes but no member may have (a drive
	// letter): refused before anything is read (at the start when named,
	// by the job when listed).
	if _, err := client.Put(ctx, "raw", "c:0001.jpg", strings.NewReader("x"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Archive(ctx, "raw", api.ArchiveMessage{ArchName: "drive.tar", ListRange: api.ListRange{ObjNames: []string{"img/0001.jpg", "c:0001.jpg"}}}); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), `cannot be a member named "c:0001.jpg"`) {
		t.Errorf("archive of an object named c:0001.jpg: %v, want refused naming it", err)
	}
	if job := run(api.ArchiveMessage{ArchName: "drive.tar", ListRange: api.ListRange{Template: "c:"}}); len(job.Errors) == 0 || !strings.Contains(strings.Join(job.Errors, " "), `cannot be a member named "c:0001.jpg"`) {
		t.Errorf("archive of a listed object named c:0001.jpg: %+v, want refused naming it", job)
	}
	// The shard itself named among its objects (in its own bucket) is
	// left out, as the job leaves it, not refused for its name.
	if job := run(api.ArchiveMessage{ArchName: "c:self.tar", ListRange: api.ListRange{ObjNames: []string{"c:self.tar", "img/0001.jpg"}}}); len(job.Errors) > 0 {
		t.Errorf("archive into c:self.tar naming it among its objects: %+v, want it left out", job)
	}
	if _, err := client.Head(ctx, "raw", "drive.tar"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused archive job stored %v", err)
	}

	job = run(api.ArchiveMessage{ArchName: "bad.zip", ListRange: api.ListRange{ObjNames: []string{"img/0001.jpg", "gone.jpg"}}})
	if len(job.Errors) == 0 || !strings.Contains(strings.Join(job.Errors, " "), "gone.jpg") {
		t.Fatalf("a missing object without coer: %+v, want the job failed naming it", job)
	}
	if _, err := client.Head(ctx, "raw", "bad.zip"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a failed archive job stored %v", err)
	}
	// A shard appended to keeps its own metadata.
	shard, err := client.GetBytes(ctx, "shards", "s-1.tar", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "shards", "meta.tar", bytes.NewReader(shard), api.PutOptions{Size: int64(len(shard)), Custom: map[string]string{"split": "train"}}); err != nil {
		t.Fatal(err)
	}
	if job := run(api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "meta.tar", ListRange: api.ListRange{ObjNames: []string{"img/0002.jpg"}}, AppendIfExists: true}); len(job.Errors) > 0 {
		t.Fatalf("append: %+v", job)
	}
	if meta, err := client.Head(ctx, "shards", "meta.tar"); err != nil || meta.Custom["split"] != "train" || meta.Size <= int64(len(shard)) {
		t.Fatalf("the shard appended to: %+v %v, want its metadata kept", meta, err)
	}
	// Nor is a copy into one.
	if _, err := client.CopyBucket(ctx, "raw", "ht://origin", api.CopyBucketMessage{}); err == nil || !strings.Contains(err.Error(), "takes no writes") {
		t.Errorf("a copy into an ht:// bucket: %v, want refused", err)
	}

	job = run(api.ArchiveMessage{ArchName: "ok.zip", ListRange: api.ListRange{ObjNames: []string{"img/0003.jpg", "gone.jpg", "img/0001.jpg"}}, ContinueOnError: true})
	if got, _ := read("raw", "ok.zip", ".zip"); len(job.Errors) > 0 || strings.Join(got, " ") != "img/0003.jpg img/0001.jpg" {
		t.Fatalf("a missing object with coer: %+v, shard %v", job, got)
	}

	for _, tc := range []struct {
		msg  api.ArchiveMessage
		want string
	}{
		{api.ArchiveMessage{ArchName: "../x.tar"}, ".."},
		{api.ArchiveMessage{ArchName: "x.rar"}, "no archive format"},
		{api.ArchiveMessage{ArchName: "x.tar", ToBck: api.Bck{Name: "nosuch"}}, "does not exist"},
		// An HTTP origin's bucket takes no writes: refused before the
		// shard is made.
		{api.ArchiveMessage{ArchName: "x.tar", ToBck: api.Bck{Name: "origin", Provider: "ht"}}, "takes no writes"},
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{Template: "a-{0..99999999}"}}, "template"},
		// Names the target could not hold: too long, or too many bytes.
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{Template: strings.Repeat("a", 2000) + "{0..9}"}}, "limit of 1024"},
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{Template: strings.Repeat("a/", 450) + "{0..199999}"}}, "MiB of names"},
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{ObjNames: slices.Repeat([]string{"a"}, 1_000_001)}}, "at most 1000000"},
		// Non-recursive is of a prefix's selection: names and templates
		// would be archived all the same.
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{Template: "img/{0001..0003}.jpg"}, NonRecursive: true}, "non-recursive"},
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{ObjNames: []string{"img/0001.jpg"}}, NonRecursive: true}, "non-recursive"},
		// Names given that cannot be members: refused at the start, not
		// by the job's writer.
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{ObjNames: []string{"a", "b", "a"}}}, `object "a" is named twice`},
		{api.ArchiveMessage{ArchName: "x.tar", ListRange: api.ListRange{ObjNames: []string{`a\..\..\b`}}}, "cannot be a member"},
	} {
		if _, err := client.Archive(ctx, "raw", tc.msg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("archive %.200v: %.300v, want an error naming %q", fmt.Sprint(tc.msg), err, tc.want)
		}
	}
}

// Names given (not listed) that would be a file and its directory are
// refused only when both are there: one missing, with continue_on_err,
// the other is archived.
func TestArchiveOfGivenNamesClashesOnlyWhenBothAreThere(t *testing.T) {
	c := gatewaytest.NewCluster(t, gatewaytest.Options{Gateways: 1, Targets: 2, NoSync: true})
	client := c.Client()
	ctx := t.Context()
	for _, b := range []string{"raw", "shards"} {
		if err := client.CreateBucket(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Put(ctx, "raw", "x/y", strings.NewReader("y"), api.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	id, err := client.Archive(ctx, "raw", api.ArchiveMessage{ToBck: api.Bck{Name: "shards"}, ArchName: "s.tar", ListRange: api.ListRange{ObjNames: []string{"x", "x/y"}}, ContinueOnError: true})
	if err != nil {
		t.Fatalf("an archive of x (missing) and x/y: %v", err)
	}
	if job, err := client.WaitJob(ctx, id, 20*time.Millisecond); err != nil || len(job.Errors) > 0 {
		t.Fatalf("an archive of x (missing) and x/y: %+v %v", job, err)
	}
	data, err := client.GetBytes(ctx, "shards", "s.tar", api.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readArchive(t, ".tar", data); !slices.Equal(got, []string{"x/y"}) {
		t.Fatalf("the shard: %v, want x/y", got)
	}
}
