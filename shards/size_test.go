package shards_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/aisgo/aisgo/shards"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"10KB", 10240}, // reference §2.1: "10KB" = 10240
		{"10kb", 10240},
		{"10KiB", 10240},
		{"10kib", 10240},
		{"10K", 10240},
		{"100KiB", 100 << 10},
		{"5MB", 5 << 20},
		{"5MiB", 5 << 20},
		{"1GiB", 1 << 30},
		{"1gb", 1 << 30},
		{"1.5GiB", 1610612736},
		{"0.5KB", 512},
		{".5KB", 512},
		{"2TiB", 2 << 40},
		{"3PB", 3 << 50},
		{"7EiB", 7 << 60},
		{"1234", 1234},
		{"1234B", 1234},
		{"1234b", 1234},
		{"1.9", 1}, // a fraction of a byte is dropped
		{"10 KB", 10240},
		{" 42 ", 42},
		{"0", 0},
		{"", 0}, // as AIStore: an empty size is zero
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := shards.ParseSize(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{"10XB", `"10XB" is not a size: unknown unit "XB"`},
		{"-5MB", `unknown unit "-5MB"`},
		{"KB", "expecting a number"},
		{"1.2.3KB", "expecting a number"},
		{".", "expecting a number"},
		{"1e3", `unknown unit "e3"`},
		{"0x10", `unknown unit "x10"`},
		{"8EiB", "too large"},
		{"9223372036854775808", "too large"},
		{"9000000000PB", "too large"},
		{"99999999999999999999.5", "too large"},
		{"10 K B", "unknown unit"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, err := shards.ParseSize(tc.in)
			if err == nil {
				t.Fatalf("ParseSize(%q) = %d, want an error", tc.in, n)
			}
			if !errors.Is(err, shards.ErrInvalidSize) {
				t.Errorf("error %v is not ErrInvalidSize", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1000, "1000B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{10240, "10KiB"},
		{1536, "1.5KiB"},
		{100 << 10, "100KiB"},
		{1610612736, "1.5GiB"},
		{1 << 30, "1GiB"},
		{1300000000, "1.21GiB"},
		{7 << 60, "7EiB"},
		{-2048, "-2KiB"},
	}
	for _, tc := range tests {
		if got := shards.FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseSize checks that ParseSize never panics, never returns a negative
// size, and reads back what FormatSize prints.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10KB", "1.5GiB", "1234", "", "10XB", "7EiB", "8EiB", ".5k", "1.", "9223372036854775807", "1.0099EiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := shards.ParseSize(s)
		if err != nil {
			if !errors.Is(err, shards.ErrInvalidSize) {
				t.Fatalf("error %v is not ErrInvalidSize", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		text := shards.FormatSize(n)
		back, err := shards.ParseSize(text)
		if err != nil {
			t.Fatalf("ParseSize(FormatSize(%d) = %q): %v", n, text, err)
		}
		tolerance := 0.005
		if n >= shards.EiB {
			tolerance = 0.01
		}
		if diff := math.Abs(float64(back) - float64(n)); diff > float64(n)*tolerance+1 {
			t.Fatalf("FormatSize(%d) = %q reads back as %d", n, text, back)
		}
	})
}
