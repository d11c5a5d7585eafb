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
