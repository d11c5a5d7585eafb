package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Link is link without its user, query and fragment; a query shows as
// "...", so that the reader knows there was one.
func Link(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "(a link that does not parse)"
	}
	if u.Opaque != "" {
		// No "//": "user:secret@host/f" reads as scheme "user" and
		// the rest opaque, secret and all.
		return u.Scheme + ":..."
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	u.Fragment = ""
	return u.String()
}

// Error is err with the URL of a *url.Error in it shown as Link shows it
// (net/http masks a password, not the query).
func Error(err error, link string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = Link(link)
		if strings.Contains(ue.Err.Error(), "Location header") {
			// A redirect net/http could not follow quotes its Location
			// whole (a presigned URL's signature).
			ue.Err = errors.New("a redirect to a Location that does not parse")
		}
	}
	return err
}
