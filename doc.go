// Package aisgo is the root of the AIS-Go module. It holds no code: its
// test states the allowed imports between the project's packages
// (deps_test.go). See README.md and the packages' own documentation.
package aisgo
