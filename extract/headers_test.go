package extract_test

import (
	"strings"
	"testing"

	"github.com/aisgo/aisgo/extract"
	"github.com/aisgo/aisgo/shards"
)

// A headers-only run finds the records, sizes and content keys a full run
// finds, holds no memory and needs no spill directory; MemoryNeed says
// what the full run takes of a budget, and which bytes do not fit.
func TestHeadersOnlyMatchesFullRun(t *testing.T) {
	big := strings.Repeat("x", 5<<20) // over the most one file keeps in memory
	for _, ext := range []string{".tar", ".tgz", ".zip", ".msgpack"} {
		t.Run(ext, func(t *testing.T) {
			data := shard(t, ext, entry{"a.jpg", strings.Repeat("a", 3000)}, entry{"a.cls", "7"},
				entry{"b.jpg", big}, entry{"b.cls", "2"}, entry{"c.jpg", "c"}, entry{"c.cls", "5"})
			inputs := []extract.Input{{Name: "s" + ext}}
			key := extract.KeyConfig{Extension: ".cls", Kind: shards.KeyInt}
			budget := extract.NewBudget(0)
			full, err := extract.Run(t.Context(), extract.Config{Format: format(ext), Key: key, Budget: budget, SpillDir: t.TempDir() + "/spill"},
				inputs, memOpener{"s" + ext: data}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			headers, err := extract.Run(t.Context(), extract.Config{Format: format(ext), Key: key, HeadersOnly: true}, inputs, memOpener{"s" + ext: data}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(headers.Records) != 3 || len(full.Records) != 3 {
				t.Fatalf("records: %d headers-only, %d full", len(headers.Records), len(full.Records))
			}
			for i, r := range headers.Records {
				f := full.Records[i]
				if r.ID != f.ID || r.Key != f.Key || r.Size != f.Size || len(r.Files) != len(f.Files) {
					t.Errorf("record %d: %+v headers-only, %+v full", i, r.Meta(0), f.Meta(0))
				}
				for _, file := range r.Files {
					if file.Data != nil {
						t.Errorf("record %d: a headers-only run kept %s in memory", i, file.Name)
					}
				}
			}
			memory, past := extract.MemoryNeed(format(ext), headers.Records, 0)
			if format(ext).Offsets() {
				// A plain tar keeps nothing: its entries stay in the shard.
				if memory != 0 || past != 0 || budget.Peak() != 0 {
					t.Errorf("tar: memory need %d (past %d), the full run held %d; want none", memory, past, budget.Peak())
				}
				return
			}
			if memory != budget.Peak() || past < int64(len(big)) {
				t.Errorf("memory need %d (past %d), the full run held %d", memory, past, budget.Peak())
			}
			if _, past := extract.MemoryNeed(format(ext), headers.Records, 1); past < 3000+int64(len(big)) {
				t.Errorf("past a budget of 1 byte: %d", past)
			}
		})
	}
}
