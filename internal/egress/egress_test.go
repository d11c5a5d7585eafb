package egress

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

// Every address of the destination is checked, with the scheme's port
// when the URL names none; one refused refuses the destination.
func TestCheckDestination(t *testing.T) {
	var asked []string
	refuse := errors.New("refused")
	check := func(_ context.Context, address string) error {
		asked = append(asked, address)
		if address == "169.254.169.254:80" {
			return refuse
		}
		return nil
	}
	u, _ := url.Parse("http://169.254.169.254/latest/meta-data/")
	if err := CheckDestination(t.Context(), u, check); !errors.Is(err, refuse) {
		t.Fatalf("the metadata service: %v, want refused", err)
	}
	u, _ = url.Parse("https://192.0.2.10:8443/b")
	if err := CheckDestination(t.Context(), u, check); err != nil {
		t.Fatal(err)
	}
	if asked[len(asked)-1] != "192.0.2.10:8443" {
		t.Fatalf("checked %v", asked)
	}
}
