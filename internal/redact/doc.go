// Package redact shows links without what may be secret in them: a
// link's user and password, its query (presigned signatures, tokens) and
// its fragment, for logs, job statuses and error messages.
package redact
