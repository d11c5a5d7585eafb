package api

import (
	"errors"
	"testing"
)

func TestParsePutCondition(t *testing.T) {
	for _, tc := range []struct {
		value, want string
		bad         bool
	}{
		{"", "", false},
		{"*", "*", false},
		{` "0a1b" `, "0a1b", false},
		{"0a1b", "0a1b", false},
		{`"d41d8cd98f00b204e9800998ecf8427e-3"`, "d41d8cd98f00b204e9800998ecf8427e-3", false},
		{`"a", "b"`, "", true},
		{`W/"a"`, "", true},
		{`""`, "", true},
		{`"*"`, "", true},
	} {
		got, err := ParsePutCondition("If-Match", tc.value)
		if tc.bad != (err != nil) || got != tc.want || err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: %q %v, want %q (bad %v)", tc.value, got, err, tc.want, tc.bad)
		}
	}
}
