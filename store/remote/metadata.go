package remote

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/aisgo/aisgo/store"
)

// A written object's custom metadata goes to the remote with it, and a
// cold GET brings it back: evicted and read again, or read by another
// client of the remote, the object is what was written. S3's own user
// metadata (store.CustomUserPrefix) is the remote's user metadata as it
// is, when a header carries it as it is; the rest (the node's other
// keys, a native PUT's custom metadata, S3 metadata of other names or
// values) travels in one entry, CustomEntry, as encoded JSON. What the
// node derives from the remote (its ETag, version, times) is not sent.
const (
	// CustomEntry is the user metadata name of the other keys.
	CustomEntry = "ais-custom"
	// MaxMetadata is S3's limit on an object's user metadata: the bytes
	// of its names and values.
	MaxMetadata = 2 << 10
)

// derived reports a custom key the node makes of the remote's answers,
// or of the cluster's own writes: not the object's to carry.
func derived(key string) bool {
	return key == store.CustomETag || strings.HasPrefix(key, "remote.") || strings.HasPrefix(key, "s3.mp-")
}

// nodeMark reports a key only the cluster's own writes set (a dSort
// job's mark of its output, a download's): not taken from the remote,
// whose objects anyone with its credentials writes (or copies, marks and
// all).
func nodeMark(key string) bool {
	return strings.HasPrefix(key, "dsort.") || strings.HasPrefix(key, "download.")
}

// Metadata is the user metadata a write sends of an object's custom
// metadata, within MaxMetadata: the entry of other keys is left out when
// it does not fit, and everything when S3's own does not (the remote
// would refuse the write).
func Metadata(custom map[string]string) map[string]string {
	meta := map[string]string{}
	other := map[string]string{}
	for k, v := range custom {
		if derived(k) {
			continue
		}
		name, ok := strings.CutPrefix(k, store.CustomUserPrefix)
		if ok && headerName(name) && name != CustomEntry && asciiValue(v) {
			if _, taken := meta[name]; !taken {
				meta[name] = v
				continue
			}
		}
		other[k] = v
	}
	if len(other) > 0 {
		if data, err := json.Marshal(other); err == nil {
			meta[CustomEntry] = base64.RawURLEncoding.EncodeToString(data)
		}
	}
	if store.CustomSize(meta) > MaxMetadata {
		delete(meta, CustomEntry)
	}
	if store.CustomSize(meta) > MaxMetadata || len(meta) == 0 {
		return nil
	}
	return meta
}

// headerName reports a name an x-amz-meta- header carries as it is: a
// token in lower case (S3 keeps names so).
func headerName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// asciiValue reports a value a header carries as it is, and S3 signs as
// sent: printable ASCII, no space at either end.
func asciiValue(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// CustomOf is the custom metadata of a remote object's user metadata
// (what Metadata sent, or what another client of the remote set). Keys
// the node derives or marks with are not taken from it: the remote's
// metadata is no say on its ETag or version, nor on which job wrote it.
func CustomOf(meta map[string]string) map[string]string {
	custom := map[string]string{}
	if store.CustomSize(meta) > 4*MaxMetadata {
		return custom // not S3's: a server's that would fill the copy's attributes
	}
	// The entry first: S3's own names, set later by another client (a
	// copy that kept the entry and changed a name), win.
	for k, v := range meta {
		if strings.ToLower(k) != CustomEntry {
			continue
		}
		data, err := base64.RawURLEncoding.DecodeString(v)
		var other map[string]string
		if err != nil || json.Unmarshal(data, &other) != nil {
			continue
		}
		for k, v := range other {
			if !derived(k) && !nodeMark(k) {
				custom[k] = v
			}
		}
	}
	for k, v := range meta {
		if k = strings.ToLower(k); k != CustomEntry {
			custom[store.CustomUserPrefix+k] = v
		}
	}
	return custom
}
