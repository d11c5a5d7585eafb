// Package sibling finds a companion binary of the running program: the
// path given, else the file of that name next to the executable, else the
// PATH. The CLI and the benchmark harness find aisnode this way.
package sibling
