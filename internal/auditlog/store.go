package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/tessera/api/layout"
)

// TileWidth is the number of hashes in a full tile and of entries in a full
// entry bundle (C2SP tlog-tiles).
const TileWidth = layout.TileWidth

// TileHeight is the number of tree levels one tile spans.
const TileHeight = layout.TileHeight

// HashSize is the size of every hash in the tree.
const HashSize = 32

// ErrNotFound is returned (possibly wrapped) by a TileStore or BundleStore
// that holds no tile or bundle of the requested level, index and width.
var ErrNotFound = errors.New("auditlog: tile not found")

// ErrMalformed is wrapped by the errors for a tile or entry bundle that is
// stored but has the wrong length or cannot be parsed.
var ErrMalformed = errors.New("auditlog: malformed tile")

// IsDamage reports whether err says that a tile or entry bundle is missing
// or malformed (the stored tree is damaged), as opposed to a failure to
// read it at all (the database is unavailable), which is no evidence about
// the tree.
func IsDamage(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrMalformed)
}

// TileStore holds the hash tiles of the tree (C2SP tlog-tiles).
//
// A tile is named by its level, its index within the level, and its width,
// the number of hashes it holds: 1 to TileWidth. A tile of width TileWidth
// is full (path tile/L/N); a narrower one is partial (tile/L/N.p/W). Tile
// (L, N, W) holds, in order, the hashes of the tree nodes at tree level
// TileHeight*L with indexes N*TileWidth to N*TileWidth+W-1, 32 bytes each,
// concatenated. Level 0 therefore holds the RFC 6962 leaf hashes.
//
// ReadTile returns exactly the bytes last written for (level, index, width)
// or an error wrapping ErrNotFound. WriteTile stores data under that name,
// replacing what was there: in committed history a name is only ever
// written with the same bytes, but after a failed or rolled-back Append the
// same name may come again with other bytes. WriteTile must not modify data
// and may keep it; callers must not modify data after the call. Partial
// tiles stay readable after their full replacement is written (clients may
// still ask for them). Writes should be part of the transaction that stores
// the events of the batch.
type TileStore interface {
	ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error)
	WriteTile(ctx context.Context, level, index uint64, width int, data []byte) error
}

// BundleStore holds the entry bundles (C2SP tlog-tiles "tile/entries"),
// named like level-0 tiles by index and width. Bundle (N, W) holds the
// entries N*TileWidth to N*TileWidth+W-1; each entry is a leaf commitment
// (LeafHash), framed as in tlog-tiles by a 2-byte big-endian length (always
// 0x0020) followed by the 32 bytes. Its contract is TileStore's.
type BundleStore interface {
	ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error)
	WriteEntryBundle(ctx context.Context, index uint64, width int, data []byte) error
}

// Store is the tree's storage: hash tiles and entry bundles.
type Store interface {
	TileStore
	BundleStore
}

// TilePath returns the C2SP tlog-tiles path of a hash tile, for example
// "tile/0/x001/234.p/7".
func TilePath(level, index uint64, width int) string {
	return layout.TilePath(level, index, partial(width))
}

// EntriesPath returns the C2SP tlog-tiles path of an entry bundle, for
// example "tile/entries/000.p/3".
func EntriesPath(index uint64, width int) string {
	return layout.EntriesPath(index, partial(width))
}

// partial maps a width to tessera's partial-tile size (0 for a full tile).
func partial(width int) uint8 {
	if width >= TileWidth {
		return 0
	}
	return uint8(width)
}

// widthOf maps tessera's partial-tile size to a width.
func widthOf(p uint8) int {
	if p == 0 {
		return TileWidth
	}
	return int(p)
}

func checkWidth(width int) error {
	if width < 1 || width > TileWidth {
		return fmt.Errorf("auditlog: tile width %d out of range [1, %d]", width, TileWidth)
	}
	return nil
}

// MemStore is a Store in memory, for tests and tools. It copies data in
// and out. It is safe for concurrent use.
type MemStore struct {
	mu      sync.RWMutex
	tiles   map[tileName][]byte
	bundles map[tileName][]byte
}

type tileName struct {
	level, index uint64
	width        int
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{tiles: make(map[tileName][]byte), bundles: make(map[tileName][]byte)}
}

// ReadTile implements TileStore.
func (m *MemStore) ReadTile(_ context.Context, level, index uint64, width int) ([]byte, error) {
	return m.read(m.tiles, tileName{level, index, width})
}

// WriteTile implements TileStore.
func (m *MemStore) WriteTile(_ context.Context, level, index uint64, width int, data []byte) error {
	return m.write(m.tiles, tileName{level, index, width}, data)
}

// ReadEntryBundle implements BundleStore.
func (m *MemStore) ReadEntryBundle(_ context.Context, index uint64, width int) ([]byte, error) {
	return m.read(m.bundles, tileName{0, index, width})
}

// WriteEntryBundle implements BundleStore.
func (m *MemStore) WriteEntryBundle(_ context.Context, index uint64, width int, data []byte) error {
	return m.write(m.bundles, tileName{0, index, width}, data)
}

// Len returns the number of hash tiles and entry bundles held.
func (m *MemStore) Len() (tiles, bundles int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tiles), len(m.bundles)
}

func (m *MemStore) read(in map[tileName][]byte, k tileName) ([]byte, error) {
	if err := checkWidth(k.width); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := in[k]
	if !ok {
		return nil, fmt.Errorf("level %d index %d width %d: %w", k.level, k.index, k.width, ErrNotFound)
	}
	return append([]byte(nil), d...), nil
}

func (m *MemStore) write(in map[tileName][]byte, k tileName, data []byte) error {
	if err := checkWidth(k.width); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in[k] = append([]byte(nil), data...)
	return nil
}
