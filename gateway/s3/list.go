package s3

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aisgo/aisgo/store"
)

// MaxKeys is the most keys and common prefixes of one listing page.
const MaxKeys = 1000

// Entry is one object as a Source sees it. ETag is quoted or not (List
// quotes it); empty if unknown.
type Entry struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	// CommonPrefix marks an entry of a listing of one level: Key is the
	// prefix ending in "/" of the keys below it.
	CommonPrefix bool
}

// Source returns at most limit entries whose keys start with prefix and
// are greater than startAfter, in ascending byte order, and whether more
// such keys follow the last one returned. With oneLevel (asked with the
// delimiter "/" and a prefix "" or ending in "/") it may list one level:
// keys there, and for the keys below, their prefixes up to the next "/"
// as CommonPrefix entries, each once.
type Source func(ctx context.Context, prefix, startAfter string, limit int, oneLevel bool) (entries []Entry, more bool, err error)

// ListRequest is what ListObjects (v1) and ListObjectsV2 ask for. Marker
// is v1's; StartAfter, ContinuationToken and FetchOwner are v2's.
type ListRequest struct {
	V2                bool
	Prefix            string
	Delimiter         string
	Marker            string
	StartAfter        string
	ContinuationToken string
	// TokenGiven is set when the query has a continuation-token, which
	// the answer echoes even when it is empty.
	TokenGiven   bool
	EncodingType string
	MaxKeys      int
	FetchOwner   bool
}

// ParseListRequest reads the query of a ListObjects or ListObjectsV2
// request. max-keys defaults to 1000 and is clamped to it; a negative or
// non-numeric one, an encoding-type other than "url" and a
// continuation-token this gateway did not issue are InvalidArgument.
func ParseListRequest(q url.Values) (ListRequest, error) {
	req := ListRequest{
		Prefix:            q.Get("prefix"),
		Delimiter:         q.Get("delimiter"),
		Marker:            q.Get("marker"),
		StartAfter:        q.Get("start-after"),
		ContinuationToken: q.Get("continuation-token"),
		TokenGiven:        q.Has("continuation-token"),
		EncodingType:      q.Get("encoding-type"),
		MaxKeys:           MaxKeys,
	}
	switch listType := q.Get("list-type"); listType {
	case "", "1":
	case "2":
		req.V2 = true
	default:
		return ListRequest{}, ErrInvalidArgument.WithMessage("list-type %q is not 2", listType)
	}
	if s := q.Get("max-keys"); s != "" {
		if strings.TrimLeft(s, "0123456789") != "" {
			return ListRequest{}, ErrInvalidArgument.WithMessage("max-keys %q is not a number of 0 or more", s)
		}
		// Digits past int are a large number: clamped like any other.
		n, err := strconv.Atoi(s)
		if err != nil || n > MaxKeys {
			n = MaxKeys
		}
		req.MaxKeys = n
	}
	if req.EncodingType != "" && req.EncodingType != "url" {
		return ListRequest{}, ErrInvalidArgument.WithMessage("encoding-type %q is not url", req.EncodingType)
	}
	// Keys are UTF-8: a position that is not would be another one in the
	// native listing (JSON makes its bytes U+FFFD), and its keys out of
	// order against it.
	for name, value := range map[string]string{"prefix": req.Prefix, "delimiter": req.Delimiter, "marker": req.Marker, "start-after": req.StartAfter} {
		if !utf8.ValidString(value) {
			return ListRequest{}, ErrInvalidArgument.WithMessage("%s %q is not UTF-8", name, value)
		}
	}
	if s := q.Get("fetch-owner"); s != "" {
		fetch, err := strconv.ParseBool(s)
		if err != nil {
			return ListRequest{}, ErrInvalidArgument.WithMessage("fetch-owner %q is neither true nor false", s)
		}
		req.FetchOwner = fetch
	}
	if req.V2 {
		// An empty continuation-token is none (the first page), as S3
		// servers take it.
		after, err := decodeToken(req.ContinuationToken)
		if err != nil {
			return ListRequest{}, err
		}
		if !utf8.ValidString(after) {
			return ListRequest{}, ErrInvalidArgument.WithMessage("the continuation-token %q was not issued by this gateway", req.ContinuationToken)
		}
	}
	return req, nil
}

// encodeToken makes a v2 continuation token of the point a listing
// resumes after: opaque to clients, and safe in a query unescaped.
func encodeToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func decodeToken(token string) (string, error) {
	after, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", ErrInvalidArgument.WithMessage("the continuation-token %q was not issued by this gateway", token)
	}
	return string(after), nil
}

// beyond is appended to a common prefix to make a position after every key
// under it: each UTF-8 key starting with the prefix (but those that go on
// with U+10FFFF) sorts before prefix+beyond and every later key after it.
// It is UTF-8 itself: a position in JSON (the native API's listing) turns
// a byte like 0xff into U+FFFD, which sorts before 4-byte characters.
// Keys that break the rule are still skipped one by one (see List).
const beyond = string(utf8.MaxRune)

// List answers a ListObjects (a *ListBucketResult) or a ListObjectsV2 (a
// *ListBucketResultV2) of bucket from src, with S3's semantics: keys and
// common prefixes both count toward MaxKeys (taken as is: 0 lists
// nothing and is not truncated, as S3 servers answer), the keys under a
// common prefix are skipped with one call to src rather than read,
// IsTruncated is set only when something remains. Keys have an Owner in
// v1 always, in v2 with FetchOwner.
func List(ctx context.Context, src Source, bucket string, req ListRequest) (any, error) {
	if req.MaxKeys < 0 {
		return nil, ErrInvalidArgument.WithMessage("max-keys %d is negative", req.MaxKeys)
	}
	req.MaxKeys = min(req.MaxKeys, MaxKeys)
	if req.EncodingType != "" && req.EncodingType != "url" {
		return nil, ErrInvalidArgument.WithMessage("encoding-type %q is not url", req.EncodingType)
	}
	start := req.Marker
	if req.V2 {
		start = req.StartAfter
		if req.ContinuationToken != "" {
			after, err := decodeToken(req.ContinuationToken)
			if err != nil {
				return nil, err
			}
			start = after
		}
	}
	var page page
	if req.MaxKeys > 0 {
		var err error
		if page, err = listPage(ctx, src, req, start); err != nil {
			return nil, err
		}
	}
	var unfit error
	encode := func(s string) string {
		if unfit == nil {
			unfit = fitsXML(s)
		}
		return s
	}
	if req.EncodingType == "url" {
		encode = urlEncode
	}
	for _, name := range []string{req.Prefix, req.Marker, req.Delimiter, req.StartAfter} {
		encode(name) // (echoed: v1's Prefix as given)
	}
	contents := make([]Object, len(page.keys))
	for i, e := range page.keys {
		contents[i] = Object{Key: encode(e.Key), LastModified: FormatTime(e.LastModified), ETag: QuoteETag(e.ETag), Size: e.Size, StorageClass: StorageClass}
		if !req.V2 || req.FetchOwner {
			contents[i].Owner = owner()
		}
	}
	prefixes := make([]CommonPrefix, len(page.prefixes))
	for i, p := range page.prefixes {
		prefixes[i] = CommonPrefix{Prefix: encode(p)}
	}
	if page.truncated {
		encode(page.last)
	}
	if unfit != nil {
		return nil, unfit
	}
	if !req.V2 {
		// v1 sends its Prefix as given: clients decode only the
		// Delimiter, the markers, the keys and the common prefixes. (One
		// XML cannot carry goes encoded: clients do not page by it.)
		prefix := req.Prefix
		if fitsXML(prefix) != nil {
			prefix = urlEncode(prefix)
		}
		result := &ListBucketResult{
			Name: bucket, Prefix: prefix, Marker: encode(req.Marker), MaxKeys: req.MaxKeys,
			Delimiter: encode(req.Delimiter), IsTruncated: page.truncated, Contents: contents, CommonPrefixes: prefixes,
			EncodingType: req.EncodingType,
		}
		// S3 gives NextMarker only with a delimiter; without one a client
		// resumes after the last key.
		if page.truncated && req.Delimiter != "" && page.last != "" {
			result.NextMarker = encode(page.last)
		}
		return result, nil
	}
	result := &ListBucketResultV2{
		Name: bucket, Prefix: encode(req.Prefix), StartAfter: encode(req.StartAfter),
		KeyCount: len(contents) + len(prefixes), MaxKeys: req.MaxKeys, Delimiter: encode(req.Delimiter),
		IsTruncated: page.truncated, Contents: contents, CommonPrefixes: prefixes, EncodingType: req.EncodingType,
	}
	if req.TokenGiven {
		result.ContinuationToken = &req.ContinuationToken
	}
	if page.truncated {
		// With nothing returned (max-keys 0) the next page starts where
		// this one did; an empty start has no token, as there is no way
		// to send an empty one.
		resume := page.last
		if resume == "" {
			resume = start
		}
		if resume != "" {
			result.NextContinuationToken = encodeToken(resume)
		}
	}
	return result, nil
}

// page is one listing page before it is encoded.
type page struct {
	keys      []Entry
	prefixes  []string
	last      string // the last key or common prefix returned
	truncated bool
}

// listPage reads src from after start until it has MaxKeys keys and
// common prefixes, and then one more to learn whether anything remains.
func listPage(ctx context.Context, src Source, req ListRequest, start string) (page, error) {
	var result page
	after := start
	// skip is the last common prefix returned: keys under it are not
	// shown again. A start that is itself a common prefix (the NextMarker
	// or token of a page that ended with it) skips its keys too.
	skip := ""
	if req.Delimiter != "" && commonPrefix(start, req.Prefix, req.Delimiter) == start && start != "" {
		skip = start
		after = start + beyond
	}
	count := 0
	// A source that lists one level (the usual "/" of folders) gives each
	// common prefix once. Else, a common prefix takes the first key of a
	// batch and the rest under it are read for nothing: batches start
	// small and grow only over keys shown, so that a level of prefixes of
	// thousands of keys each is not read whole for one page (each batch
	// is a listing of every target).
	oneLevel := req.Delimiter == "/" && (req.Prefix == "" || strings.HasSuffix(req.Prefix, "/"))
	batch := rollupBatch
	skipped := "" // the greatest key under skip passed over
	var lastAfter string
	lastCount, lastLevel := 0, false
next:
	for {
		stalled := lastLevel && after == lastAfter && count == lastCount
		// A level resumes past a whole folder after a name ending in "/":
		// right for a common prefix, not for a key (the prefix's own, or
		// one a client started after), which resumes flat, as do the keys
		// of a folder shown that sort past beyond, and a level that gave
		// nothing new (those keys again: it would for good).
		level := false
		if oneLevel {
			switch {
			case stalled:
			case skip != "" && after == skip+beyond:
				level = true
			case skip != "" && strings.HasPrefix(after, skip) && after != skip:
			default:
				level = !strings.HasSuffix(after, "/") || after != req.Prefix && commonPrefix(after, req.Prefix, req.Delimiter) == after
			}
		}
		limit := req.MaxKeys - count + 1
		if req.Delimiter != "" && !level {
			limit = min(limit, batch)
		}
		// Past a folder shown, a level resumes from the folder itself (the
		// targets skip a whole folder after a name ending in "/"), as
		// does a flat listing whose position past it would be longer than
		// a name may be (its keys then skipped one by one).
		from := after
		if skip != "" && after == skip+beyond && (level || len(after) > store.MaxNameLength) {
			// (Flat, past the folder's keys skipped so far, in batches
			// that grow: none of them counts.)
			from = max(skip, skipped)
			if !level {
				limit = batch
			}
		}
		entries, more, err := src(ctx, req.Prefix, from, limit, level)
		if err != nil {
			return page{}, err
		}
		lastAfter, lastCount, lastLevel = after, count, level
		for i, e := range entries {
			if skip != "" && strings.HasPrefix(e.Key, skip) {
				// Under the folder shown: its keys, the level's folder
				// again for keys past the point a page resumed from.
				after, skipped = max(after, e.Key), max(skipped, e.Key)
				continue
			}
			if e.CommonPrefix && e.Key <= after && strings.HasPrefix(after, e.Key) {
				// The folder a client's start is in: its keys past the
				// start roll up into it.
				after = e.Key + beyond
			} else if e.Key <= after || !strings.HasPrefix(e.Key, req.Prefix) {
				return page{}, fmt.Errorf("s3: the listing source returned %q after %q with prefix %q: out of order or off the prefix", e.Key, after, req.Prefix)
			} else {
				after = e.Key
			}
			item := e.Key
			rolled := false
			if req.Delimiter != "" {
				if p := commonPrefix(e.Key, req.Prefix, req.Delimiter); p != "" {
					item, rolled = p, true
				}
			}
			if e.CommonPrefix && (!level || item != e.Key) {
				return page{}, fmt.Errorf("s3: the listing source returned %q as a common prefix of prefix %q and delimiter %q", e.Key, req.Prefix, req.Delimiter)
			}
			if level && rolled && !e.CommonPrefix {
				oneLevel = false // a source that lists flat all the same
			}
			if count == req.MaxKeys {
				result.truncated = true
				return result, nil
			}
			count++
			result.last = item
			if !rolled {
				result.keys = append(result.keys, e)
				continue
			}
			result.prefixes = append(result.prefixes, item)
			skip, skipped = item, ""
			if wasted := i+1 < len(entries) && strings.HasPrefix(entries[i+1].Key, skip); wasted && more {
				// Past the prefix's keys, in a small batch again.
				after, batch = max(after, skip+beyond), rollupBatch
				continue next
			}
		}
		if !more {
			return result, nil
		}
		if len(entries) == 0 {
			return page{}, fmt.Errorf("s3: the listing source said more keys follow %q but returned none", after)
		}
		batch = min(2*batch, MaxKeys+1)
		// Jump over the rest of a common prefix instead of reading it.
		if skip != "" && strings.HasPrefix(after, skip) && after < skip+beyond {
			after = skip + beyond
		}
	}
}

// rollupBatch is the first batch of keys a listing with a delimiter asks
// for after a common prefix.
const rollupBatch = 16

// commonPrefix returns the common prefix key rolls up into: key up to and
// including the first delimiter after prefix, or "" if key has none.
func commonPrefix(key, prefix, delimiter string) string {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return ""
	}
	i := strings.Index(rest, delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(prefix)+i+len(delimiter)]
}

// urlEncode encodes a name for encoding-type=url: letters, digits, "-_.*"
// and '/' stay, every other byte is %XX. A space is %20, not the form
// encoding's '+': SDKs undo this with a form decoder (botocore) or a plain
// URL decoder, and only %20 reads back as a space in both.
// fitsXML refuses a name a listing cannot carry without
// encoding-type=url: a character XML 1.0 has not (a control character,
// U+FFFE) would go out as U+FFFD, another name, and a client going on
// after it would skip or repeat keys, or GET a name that is not there.
func fitsXML(name string) error {
	for _, r := range name {
		if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			continue
		}
		return ErrInvalidArgument.WithMessage("%q has a character XML 1.0 cannot carry (%U): list with encoding-type=url", name, r)
	}
	return nil
}

func urlEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-_.*/", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}
