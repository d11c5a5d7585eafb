package s3

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestFormatTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2006, 1, 2, 15, 4, 5, 123456789, time.UTC), "2006-01-02T15:04:05.123Z"},
		{time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), "2006-01-02T15:04:05.000Z"},
		{time.Date(2006, 1, 2, 23, 30, 0, 0, time.FixedZone("UTC+2", 2*3600)), "2006-01-02T21:30:00.000Z"},
	}
	for _, tc := range tests {
		if got := FormatTime(tc.t); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestWriteXML(t *testing.T) {
	const ns = `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	tests := []struct {
		name string
		v    any
		want string // the body after the XML header
	}{
		{
			"buckets",
			ListAllMyBucketsResult{Owner: Owner{ID: "id", DisplayName: "me"}, Buckets: []Bucket{{Name: "a", CreationDate: "2006-01-02T15:04:05.000Z"}}},
			`<ListAllMyBucketsResult ` + ns + `><Owner><ID>id</ID><DisplayName>me</DisplayName></Owner><Buckets><Bucket><Name>a</Name><CreationDate>2006-01-02T15:04:05.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`,
		},
		{
			"a v1 listing keeps an empty Prefix and Marker",
			&ListBucketResult{Name: "b", MaxKeys: 1000, Contents: []Object{{Key: "k&1", LastModified: "t", ETag: `"e"`, Size: 3, StorageClass: "STANDARD"}}},
			`<ListBucketResult ` + ns + `><Name>b</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>k&amp;1</Key><LastModified>t</LastModified><ETag>&#34;e&#34;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`,
		},
		{
			"a v2 listing",
			&ListBucketResultV2{Name: "b", Prefix: "p/", KeyCount: 1, MaxKeys: 1, Delimiter: "/", IsTruncated: true, NextContinuationToken: "cC8", CommonPrefixes: []CommonPrefix{{Prefix: "p/q/"}}},
			`<ListBucketResult ` + ns + `><Name>b</Name><Prefix>p/</Prefix><NextContinuationToken>cC8</NextContinuationToken><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><CommonPrefixes><Prefix>p/q/</Prefix></CommonPrefixes></ListBucketResult>`,
		},
		{
			"us-east-1",
			LocationConstraint{},
			`<LocationConstraint ` + ns + `></LocationConstraint>`,
		},
		{
			"another region",
			LocationConstraint{Location: "eu-west-1"},
			`<LocationConstraint ` + ns + `>eu-west-1</LocationConstraint>`,
		},
		{
			"a multi-delete answer",
			DeleteResult{Deleted: []Deleted{{Key: "a"}}, Errors: []DeleteError{{Key: "b", Code: "AccessDenied", Message: "no"}}},
			`<DeleteResult ` + ns + `><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>`,
		},
		{
			"a copy",
			CopyObjectResult{LastModified: "t", ETag: "e"},
			`<CopyObjectResult ` + ns + `><LastModified>t</LastModified><ETag>e</ETag></CopyObjectResult>`,
		},
		{
			"a part copy",
			CopyPartResult{LastModified: "t", ETag: "e"},
			`<CopyPartResult ` + ns + `><LastModified>t</LastModified><ETag>e</ETag></CopyPartResult>`,
		},
		{
			"an upload started",
			InitiateMultipartUploadResult{Bucket: "b", Key: "k", UploadID: "u"},
			`<InitiateMultipartUploadResult ` + ns + `><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>`,
		},
		{
			"an upload completed",
			CompleteMultipartUploadResult{Location: "/b/k", Bucket: "b", Key: "k", ETag: "e-2"},
			`<CompleteMultipartUploadResult ` + ns + `><Location>/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>e-2</ETag></CompleteMultipartUploadResult>`,
		},
		{
			"the parts",
			ListPartsResult{Bucket: "b", Key: "k", UploadID: "u", StorageClass: "STANDARD", MaxParts: 1000, Parts: []Part{{PartNumber: 1, LastModified: "t", ETag: "e", Size: 5}}},
			`<ListPartsResult ` + ns + `><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><StorageClass>STANDARD</StorageClass><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>0</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>t</LastModified><ETag>e</ETag><Size>5</Size></Part></ListPartsResult>`,
		},
		{
			"the uploads",
			ListMultipartUploadsResult{Bucket: "b", MaxUploads: 1000, Uploads: []Upload{{Key: "k", UploadID: "u", Owner: &Owner{ID: "o"}, StorageClass: "STANDARD", Initiated: "t"}}},
			`<ListMultipartUploadsResult ` + ns + `><Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated><Upload><Key>k</Key><UploadId>u</UploadId><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass><Initiated>t</Initiated></Upload></ListMultipartUploadsResult>`,
		},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		WriteXML(w, 200, tc.v)
		body := w.Body.String()
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/xml" || w.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("%s: status %d, Content-Type %q, Content-Length %q for %d bytes", tc.name, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Content-Length"), len(body))
		}
		if got, ok := strings.CutPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"); !ok || got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, body, tc.want)
		}
	}
}

func TestWriteXMLOfWhatCannotBeEncoded(t *testing.T) {
	w := httptest.NewRecorder()
	WriteXML(w, 200, map[string]int{"a": 1})
	if w.Code != 500 || !strings.Contains(w.Body.String(), "<Code>InternalError</Code>") {
		t.Errorf("status %d body %s, want a 500 InternalError", w.Code, w.Body)
	}
}

func deleteBody(n int) string {
	var b strings.Builder
	b.WriteString("<Delete>")
	for i := range n {
		fmt.Fprintf(&b, "<Object><Key>key-%d</Key></Object>", i)
	}
	b.WriteString("</Delete>")
	return b.String()
}

func TestDecodeXMLDelete(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		limit int64
		want  Delete // when no error
		code  string // the S3 error code, "" for none
		count int    // objects wanted, when want is not spelled out
	}{
		{
			name: "with the S3 namespace", limit: 1 << 10,
			body: `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b c</Key><VersionId>v1</VersionId></Object></Delete>`,
			want: Delete{Quiet: true, Objects: []ObjectIdentifier{{Key: "a"}, {Key: "b c", VersionID: "v1"}}},
		},
		{
			name: "without a namespace, with blanks and a comment after", limit: 1 << 10,
			body: "<Delete>\n  <Object><Key>a&amp;b</Key></Object>\n</Delete>\n<!-- end -->\n",
			want: Delete{Objects: []ObjectIdentifier{{Key: "a&b"}}},
		},
		{name: "1000 keys", body: deleteBody(1000), limit: DeleteBodyLimit, count: 1000},
		{name: "1001 keys", body: deleteBody(1001), limit: DeleteBodyLimit, code: "MalformedXML"},
		{name: "no key", body: "<Delete><Quiet>false</Quiet></Delete>", limit: 1 << 10, code: "MalformedXML"},
		{name: "past the limit", body: deleteBody(10), limit: 20, code: "MaxMessageLengthExceeded"},
		{name: "empty", body: "", limit: 1 << 10, code: "MalformedXML"},
		{name: "blanks only", body: "  \n", limit: 1 << 10, code: "MalformedXML"},
		{name: "not closed", body: "<Delete><Object><Key>a</Key></Object>", limit: 1 << 10, code: "MalformedXML"},
		{name: "another root", body: "<Remove><Object><Key>a</Key></Object></Remove>", limit: 1 << 10, code: "MalformedXML"},
		{name: "a second root", body: "<Delete><Object><Key>a</Key></Object></Delete><Delete/>", limit: 1 << 10, code: "MalformedXML"},
		{name: "text after the root", body: "<Delete><Object><Key>a</Key></Object></Delete>junk", limit: 1 << 10, code: "MalformedXML"},
		{name: "a bad Quiet", body: "<Delete><Quiet>perhaps</Quiet><Object><Key>a</Key></Object></Delete>", limit: 1 << 10, code: "MalformedXML"},
		{name: "not XML", body: "{\"Objects\": []}", limit: 1 << 10, code: "MalformedXML"},
	}
	for _, tc := range tests {
		var got Delete
		err := DecodeXML(strings.NewReader(tc.body), tc.limit, &got)
		if tc.code != "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Status != 400 || e.Message == "" {
				t.Errorf("%s: error %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.count != 0 {
			if len(got.Objects) != tc.count {
				t.Errorf("%s: %d objects, want %d", tc.name, len(got.Objects), tc.count)
			}
			continue
		}
		if fmt.Sprint(got.Quiet, got.Objects) != fmt.Sprint(tc.want.Quiet, tc.want.Objects) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The longest keys S3 allows, 1000 of them, fit DeleteBodyLimit.
func TestDeleteBodyLimitFitsTheLongestKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>`)
	for range MaxDeleteObjects {
		b.WriteString("\n  <Object><Key>" + strings.Repeat("k", 1024) + "</Key><VersionId>" + strings.Repeat("v", 32) + "</VersionId></Object>")
	}
	b.WriteString("\n</Delete>")
	var got Delete
	if err := DecodeXML(strings.NewReader(b.String()), DeleteBodyLimit, &got); err != nil || len(got.Objects) != MaxDeleteObjects {
		t.Errorf("%d bytes: %d objects, %v", b.Len(), len(got.Objects), err)
	}
}

func TestDecodeXMLComplete(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []CompletedPart
		code string
	}{
		{
			name: "two parts with the namespace",
			body: `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><ETag>b</ETag><PartNumber>3</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part></CompleteMultipartUpload>`,
			want: []CompletedPart{{1, `"a"`}, {3, "b"}},
		},
		{name: "no part", body: "<CompleteMultipartUpload></CompleteMultipartUpload>", code: "MalformedXML"},
		{name: "descending", body: "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>", code: "InvalidPartOrder"},
		{name: "twice the same", body: "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>", code: "InvalidPartOrder"},
		{name: "part 0", body: "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber></Part></CompleteMultipartUpload>", code: "InvalidArgument"},
		{name: "part 10001", body: "<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber></Part></CompleteMultipartUpload>", code: "InvalidArgument"},
		{name: "a number that is not", body: "<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>", code: "MalformedXML"},
	}
	for _, tc := range tests {
		var got CompleteMultipartUpload
		err := DecodeXML(strings.NewReader(tc.body), CompleteBodyLimit, &got)
		if tc.code != "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("%s: error %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil || fmt.Sprint(got.Parts) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got.Parts, err, tc.want)
		}
	}
}

func TestDecodeXMLReadError(t *testing.T) {
	broken := errors.New("connection reset")
	var got Delete
	if err := DecodeXML(iotest.ErrReader(broken), 1<<10, &got); !errors.Is(err, broken) {
		t.Errorf("error %v, want the read error", err)
	}
	if err := DecodeXML(io.MultiReader(strings.NewReader("<Delete>"), iotest.ErrReader(broken)), 1<<10, &got); !errors.Is(err, broken) {
		t.Errorf("error %v, want the read error", err)
	}
}

// A body of many empty items is refused before it is decoded: 2 MiB of
// "<Object/>" made some 170 MB of structs and garbage first.
func TestItemsPastTheBoundAreRefusedBeforeDecoding(t *testing.T) {
	for _, tc := range []struct {
		root, item string
		into       any
	}{
		{"Delete", "Object", &Delete{}},
		{"CompleteMultipartUpload", "Part", &CompleteMultipartUpload{}},
	} {
		body := "<" + tc.root + ">" + strings.Repeat("<"+tc.item+"/>", (2<<20)/(len(tc.item)+3)-10) + "</" + tc.root + ">"
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := DecodeXML(strings.NewReader(body), 4<<20, tc.into)
		runtime.ReadMemStats(&after)
		var e *Error
		if !errors.As(err, &e) || e.Code != "MalformedXML" {
			t.Errorf("%s of %d bytes of empty %s: %v, want MalformedXML", tc.root, len(body), tc.item, err)
		}
		if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 12<<20 {
			t.Errorf("%s of %d bytes: %d bytes allocated to refuse it", tc.root, len(body), allocated)
		}
	}
}
