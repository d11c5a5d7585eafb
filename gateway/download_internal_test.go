package gateway

import (
	"net/http"
	"testing"
	"time"
)

// Retry-After is read as seconds or an HTTP date, bounded, and a value
// that is neither asks for no wait.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"3600", maxRetryAfter},
		{"99999999999999999999", 0}, // not a number Go can hold: unreadable
		{"9223372036854775807", maxRetryAfter},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	} {
		if got := originRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("Retry-After %q: %s, want %s", tc.header, got, tc.want)
		}
	}
}
