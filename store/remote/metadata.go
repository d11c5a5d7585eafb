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
// is; the node's other keys (a dSort job's mark, a native PUT's custom
// metadata) travel in one entry, CustomEntry, as encoded JSON. What the
// node derives from the remote (its ETag, version, times) is not sent.
const (
	// CustomEntry is the user metadata name of the node's other keys.
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

// Metadata is the user metadata a write sends of an object's custom
// metadata, within MaxMetadata: the node's other keys are left out when
// they do not fit, and everything when S3's own does not (the remote
// would refuse the write).
func Metadata(custom map[string]string) map[string]string {
	meta := map[string]string{}
	other := map[string]string{}
	for k, v := range custom {
		switch {
		case derived(k):
		case strings.HasPrefix(k, store.CustomUserPrefix):
			meta[strings.ToLower(strings.TrimPrefix(k, store.CustomUserPrefix))] = v
		default:
			other[k] = v
		}
	}
	if len(other) > 0 {
		if data, err := json.Marshal(other); err == nil {
			meta[CustomEntry] = base64.RawURLEncoding.EncodeToString(data)
		}
	}
	if metadataSize(meta) > MaxMetadata {
		delete(meta, CustomEntry)
	}
	if metadataSize(meta) > MaxMetadata || len(meta) == 0 {
		return nil
	}
	return meta
}

func metadataSize(meta map[string]string) int {
	n := 0
	for k, v := range meta {
		n += len(k) + len(v)
	}
	return n
}

// CustomOf is the custom metadata of a remote object's user metadata
// (what Metadata sent, or what another client of the remote set). Keys
// the node derives are not taken from it: the remote's metadata is no
// say on its ETag or version.
func CustomOf(meta map[string]string) map[string]string {
	custom := map[string]string{}
	if metadataSize(meta) > 4*MaxMetadata {
		return custom // not S3's: a server's that would fill the copy's attributes
	}
	for k, v := range meta {
		k = strings.ToLower(k)
		if k != CustomEntry {
			custom[store.CustomUserPrefix+k] = v
			continue
		}
		data, err := base64.RawURLEncoding.DecodeString(v)
		var other map[string]string
		if err != nil || json.Unmarshal(data, &other) != nil {
			continue
		}
		for k, v := range other {
			if !derived(k) && !strings.HasPrefix(k, store.CustomUserPrefix) {
				custom[k] = v
			}
		}
	}
	return custom
}
