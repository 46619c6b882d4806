package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/confidanthealth/confidant/internal/auditlog"
)

// ErrInconsistent is returned (wrapped) by Client.Add when the witness
// refuses the log's checkpoint as inconsistent with the one it holds (a fork,
// or a rewritten database).
var ErrInconsistent = errors.New("the witness holds a checkpoint inconsistent with this log")

// RollbackError is returned by Client.Add when the witness has cosigned a
// larger log than the checkpoint offered: the log's database is older than
// what the witness saw.
type RollbackError struct {
	URL               string
	WitnessSize, Size uint64
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("witness %s has cosigned the log at size %d, larger than this log's %d (rollback)", e.URL, e.WitnessSize, e.Size)
}

// ProofFunc returns the consistency proof from size old to the checkpoint's
// size.
type ProofFunc func(ctx context.Context, old uint64) ([][]byte, error)

// Client submits a log's checkpoints to one witness. It remembers the size
// the witness last cosigned. It is safe for concurrent use.
type Client struct {
	url  string
	http *http.Client

	mu    sync.Mutex
	known bool
	size  uint64
}

// NewClient returns a client of the witness at base (its URL prefix; the
// request goes to base + "/add-checkpoint"). hc is a client with a 30s
// timeout if nil.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimSuffix(base, "/")
	if !strings.HasSuffix(u, "/add-checkpoint") {
		u += "/add-checkpoint"
	}
	return &Client{url: u, http: hc}
}

// URL returns the add-checkpoint URL.
func (c *Client) URL() string { return c.url }

// Add submits cp with a consistency proof from the size the witness is
// believed to hold (cp.Size at first); on 409 Conflict it learns the
// witness's size and retries once. It returns the cosignature lines, a
// *RollbackError if the witness holds a larger size, an error wrapping
// ErrInconsistent if the witness rejects the proof, or another error
// (unreachable, refused).
func (c *Client) Add(ctx context.Context, cp auditlog.Checkpoint, proof ProofFunc) ([]byte, error) {
	c.mu.Lock()
	old := cp.Size
	if c.known && c.size <= cp.Size {
		old = c.size
	}
	c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		var p [][]byte
		if old > 0 && old < cp.Size {
			var err error
			if p, err = proof(ctx, old); err != nil {
				return nil, fmt.Errorf("consistency proof from %d for witness %s: %w", old, c.url, err)
			}
		}
		status, body, err := c.post(ctx, old, p, cp.Note)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", c.url, err)
		}
		switch status {
		case http.StatusOK:
			c.mu.Lock()
			c.known, c.size = true, cp.Size
			c.mu.Unlock()
			return body, nil
		case http.StatusConflict:
			ws, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("witness %s: malformed 409 answer", c.url)
			}
			c.mu.Lock()
			c.known, c.size = true, ws
			c.mu.Unlock()
			if ws > cp.Size {
				return nil, &RollbackError{URL: c.url, WitnessSize: ws, Size: cp.Size}
			}
			if attempt > 0 {
				return nil, fmt.Errorf("witness %s: size conflict again (it holds %d)", c.url, ws)
			}
			old = ws
		case http.StatusUnprocessableEntity:
			return nil, fmt.Errorf("witness %s at size %d: %w: %s", c.url, old, ErrInconsistent, firstLine(body))
		default:
			return nil, fmt.Errorf("witness %s answered %d: %s", c.url, status, firstLine(body))
		}
	}
}

func (c *Client) post(ctx context.Context, old uint64, proof [][]byte, cp []byte) (int, []byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(cp)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &b)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
