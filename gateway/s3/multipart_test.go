package s3

import (
	"slices"
	"testing"
)

func TestPartSizeRuns(t *testing.T) {
	sizes := []int64{8 << 20, 8 << 20, 8 << 20, 5 << 20, 5 << 20, 1000}
	parts := make([]storedPart, len(sizes))
	for i, s := range sizes {
		parts[i] = storedPart{number: i + 1, size: s}
	}
	runs := sizeRuns(parts)
	if want := []string{"8388608*3", "5242880*2", "1000"}; !slices.Equal(runs, want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	got, ok := partSizes("8388608*3,5242880*2,1000", maxParts)
	if !ok || !slices.Equal(got, sizes) {
		t.Fatalf("sizes %v %v", got, ok)
	}
	for _, bad := range []string{"", "x", "5*0", "5*-1", "-5", "1*10001", "1*9999,2,3"} {
		if _, ok := partSizes(bad, maxParts); ok {
			t.Errorf("%q read as sizes", bad)
		}
	}
}
