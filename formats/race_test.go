//go:build race

package formats_test

const raceEnabled = true
