package auditlog

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
)

// Prover builds inclusion and consistency proofs for one tree size from
// stored tiles, with Tessera's client.ProofBuilder. It caches the tiles it
// reads, so reuse it for many proofs at the same size. It is not safe for
// concurrent use.
//
// Proofs are only as good as the tiles: check them with VerifyInclusion or
// VerifyConsistency against a signed checkpoint before handing them out.
type Prover struct {
	size uint64
	f    *fetcher
	pb   *client.ProofBuilder
}

// NewProver returns a Prover for the tree of the given size held in ts.
func NewProver(ctx context.Context, ts TileStore, size uint64) (*Prover, error) {
	f := tileFetcher(ts)
	pb, err := client.NewProofBuilder(ctx, size, f.fetch)
	if err != nil {
		return nil, fmt.Errorf("auditlog: proof builder: %w", err)
	}
	return &Prover{size: size, f: f, pb: pb}, nil
}

// Size returns the tree size the Prover proves against.
func (p *Prover) Size() uint64 { return p.size }

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of size p.Size(), index < p.Size().
func (p *Prover) InclusionProof(ctx context.Context, index uint64) ([][]byte, error) {
	if index >= p.size {
		return nil, fmt.Errorf("auditlog: inclusion proof of index %d in a tree of size %d", index, p.size)
	}
	p.f.err = nil
	h, err := p.pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("auditlog: inclusion proof of index %d at size %d: %w", index, p.size, p.f.cause(err))
	}
	return h, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// size smaller to the tree of size larger, smaller <= larger <= p.Size().
func (p *Prover) ConsistencyProof(ctx context.Context, smaller, larger uint64) ([][]byte, error) {
	if smaller > larger || larger > p.size {
		return nil, fmt.Errorf("auditlog: consistency proof from %d to %d in a tree of size %d", smaller, larger, p.size)
	}
	p.f.err = nil
	h, err := p.pb.ConsistencyProof(ctx, smaller, larger)
	if err != nil {
		return nil, fmt.Errorf("auditlog: consistency proof from %d to %d: %w", smaller, larger, p.f.cause(err))
	}
	return h, nil
}

// InclusionProof returns the inclusion proof of leaf index in the tree of
// the given size held in ts.
func InclusionProof(ctx context.Context, ts TileStore, index, size uint64) ([][]byte, error) {
	p, err := NewProver(ctx, ts, size)
	if err != nil {
		return nil, err
	}
	return p.InclusionProof(ctx, index)
}

// ConsistencyProof returns the consistency proof between two sizes of the
// tree held in ts.
func ConsistencyProof(ctx context.Context, ts TileStore, smaller, larger uint64) ([][]byte, error) {
	p, err := NewProver(ctx, ts, larger)
	if err != nil {
		return nil, err
	}
	return p.ConsistencyProof(ctx, smaller, larger)
}

// VerifyInclusion checks that the leaf commitment (the entry, LeafHash's
// output, not its Merkle leaf hash) is leaf index of the tree of the given
// size and root, with merkle/proof.VerifyInclusion.
func VerifyInclusion(commitment [32]byte, index, size uint64, inclusion [][]byte, root [32]byte) error {
	leaf := MerkleLeafHash(commitment)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], inclusion, root[:]); err != nil {
		return fmt.Errorf("auditlog: inclusion of index %d at size %d: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size1 and root1 is a prefix of
// the tree of size2 and root2, with merkle/proof.VerifyConsistency.
func VerifyConsistency(size1, size2 uint64, consistency [][]byte, root1, root2 [32]byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, consistency, root1[:], root2[:]); err != nil {
		return fmt.Errorf("auditlog: consistency from %d to %d: %w", size1, size2, err)
	}
	return nil
}
