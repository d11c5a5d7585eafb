package main

import "testing"

// A name from the cluster cannot drive the terminal: control characters
// are shown escaped.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain/name-1.tar": "plain/name-1.tar",
		"évé.jpg":          "évé.jpg",
		"a\x1b[2Jb\rc":     `a\x1b[2Jb\x0dc`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
