// Package e2e holds end-to-end tests of the whole storage path: the JSON
// API, the service, sealing, keys and a real database, as the server wires
// them. It has no non-test code.
package e2e
