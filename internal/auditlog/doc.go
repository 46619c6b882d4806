// Package auditlog is the core of Confidant's access log: events, their
// hiding leaf commitments, an RFC 6962 Merkle tree stored as C2SP
// tlog-tiles, inclusion and consistency proofs, signed C2SP checkpoints,
// proof bundles for patients, and Verify, which re-checks a whole stored
// log. It knows nothing of the stores: it reads and writes through the small
// interfaces TileStore, BundleStore and EventSource.
//
// # From event to tree
//
// An Event has a canonical, versioned binary encoding (MarshalCanonical).
// Version 1 holds every field; version 2, which the log writes now, holds
// the staff member's session id and client address only as hashes under a
// secret per-event salt (Conceal, HashSession, HashClient), so that a
// patient's proof bundle shows no more than the patient's access history.
// Both versions decode and verify. Its leaf commitment is
//
//	commitment = SHA-256("confidant/audit-leaf/v1" || 0x00 || nonce || canonical)
//
// with a fresh 32-byte random nonce per event (LeafHash). The commitment is
// the log entry in the tlog-tiles sense: the 32 bytes that entry bundles
// hold. The tree is the RFC 6962 tree over these entries, so its leaf i is
//
//	leaf = SHA-256(0x00 || commitment_i)       (MerkleLeafHash)
//
// and its inner nodes SHA-256(0x01 || left || right), as computed by
// github.com/transparency-dev/merkle's rfc6962 hasher. Anyone holding an
// Opening (canonical event and nonce), an inclusion proof and a signed
// checkpoint can recompute the leaf and check it (CheckBundle) without
// learning anything about the other events.
//
// # Tiles
//
// The tree is stored in the C2SP tlog-tiles layout, with tiles of height 8:
//
//	tile/<L>/<N>[.p/<W>]       hash tile: W (1..256) hashes of the nodes at tree
//	                           level 8*L with indexes 256*N .. 256*N+W-1,
//	                           32 bytes each, concatenated; W = 256 is a full
//	                           tile (no .p suffix), W < 256 a partial one
//	tile/entries/<N>[.p/<W>]   entry bundle: entries 256*N .. 256*N+W-1, each
//	                           0x00 0x20 followed by the 32-byte commitment
//
// where <N> is written in groups of three digits ("x001/234"), see TilePath
// and EntriesPath. An Appender writes, per batch, every full tile the batch
// completes and the new partial tile of each level; partial tiles are never
// deleted. A tree of size s is described by the tiles of width
// PartialTileSize(L, N, s) (Tessera's api/layout), which is what Tessera's
// client reads to build proofs.
//
// # Checkpoints
//
// A checkpoint is a C2SP tlog-checkpoint (formats/log) signed as a C2SP
// note with an Ed25519 key in note format (golang.org/x/mod/sumdb/note)
// whose name is the log's origin, such as "confidant.example/log".
package auditlog
