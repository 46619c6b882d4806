// Package confidant holds the domain vocabulary of Confidant, a records
// system for psychotherapy providers: clinics, staff, patients, care
// relationships and the treatment records therapists keep.
//
// The package imports only the standard library. Storage, transport and
// cryptography live in internal packages that implement or consume the
// interfaces declared here (see docs/ARCHITECTURE.md):
//
//   - Store and Tx: persistence, implemented by internal/sqlite and
//     internal/postgres and checked by the shared suite internal/storetest.
//   - Error and Kind: the single error type; every transport turns it into a
//     response in one place.
//
// Types that carry patient data implement slog.LogValuer and log ids only.
package confidant
