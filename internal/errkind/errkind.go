// Package errkind names error conditions that cross nodes as text, so that
// the other side gets the same sentinel back: a Table pairs each stable
// name with its sentinel, and looks either up from the other.
//
// Usage:
//
//	var Kinds = errkind.Table{{"not-found", ErrNotFound}}
//	name := Kinds.Of(err)       // "" when no kind matches
//	sentinel := Kinds.Err(name) // nil for an unknown name
package errkind

import "errors"

// Kind is one named condition.
type Kind struct {
	Name string
	Err  error
}

// Table is a set of kinds; the first that matches wins.
type Table []Kind

// Of returns the name of the first kind err is, or "".
func (t Table) Of(err error) string {
	for _, k := range t {
		if errors.Is(err, k.Err) {
			return k.Name
		}
	}
	return ""
}

// Err returns the sentinel of a name, or nil.
func (t Table) Err(name string) error {
	for _, k := range t {
		if k.Name == name {
			return k.Err
		}
	}
	return nil
}
