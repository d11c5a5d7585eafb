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
