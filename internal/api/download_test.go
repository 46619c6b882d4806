package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// failingStore fails AttachmentChunk for chunk index failAt (-1: never).
type failingStore struct {
	confidant.Store
	failAt atomic.Int64
}

// Backend exposes the access log underneath to testfix.
func (s *failingStore) Backend() confidant.SealedStore {
	return s.Store.(interface{ Backend() confidant.SealedStore }).Backend()
}

type failingTx struct {
	confidant.Tx
	s *failingStore
}

func (s *failingStore) View(ctx context.Context, fn func(confidant.Tx) error) error {
	return s.Store.View(ctx, func(tx confidant.Tx) error { return fn(failingTx{tx, s}) })
}

func (tx failingTx) AttachmentChunk(ctx context.Context, patientID, id string, i int) ([]byte, error) {
	if int64(i) == tx.s.failAt.Load() {
		return nil, errors.New("disk on fire")
	}
	return tx.Tx.AttachmentChunk(ctx, patientID, id, i)
}

// TestDownloadFailure checks both ways a download can fail on the server:
// before the first byte (a proper JSON 500) and midway (a short body and an
// error in the log).
func TestDownloadFailure(t *testing.T) {
	st := &failingStore{Store: testfix.SQLite(t)}
	st.failAt.Store(-1)
	w := testfix.New(t, st)
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	e := &env{World: w, h: httpx.Secure(httpx.Logged(log, New(w.Service, Config{Logger: log}))), log: buf}

	content := strings.Repeat("line of text\n", 2*confidant.AttachmentChunkSize/13+1) // three chunks
	att, err := w.Service.UploadAttachment(w.As(w.Therapist), w.PatientA.ID, "long.txt", strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	tok := e.login(t, "therapist")
	path := "/api/v1/attachments/" + att.ID

	st.failAt.Store(0)
	res := e.do(t, req{Method: "GET", Path: path, Token: tok})
	if res.Code != 500 || res.errorOf(t).Error.Code != "internal" || strings.Contains(string(res.Body), "fire") {
		t.Errorf("failure before the first byte: %d %s", res.Code, res.Body)
	}

	st.failAt.Store(1)
	res = e.do(t, req{Method: "GET", Path: path, Token: tok})
	if res.Code != 200 || res.Header.Get("Content-Length") != strconv.Itoa(len(content)) || len(res.Body) >= len(content) {
		t.Errorf("failure midway: status %d, Content-Length %s, got %d of %d bytes", res.Code, res.Header.Get("Content-Length"), len(res.Body), len(content))
	}
	if !strings.Contains(buf.String(), "code=attachment_stream") || !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("midway failure not logged as an error:\n%s", buf)
	}

	st.failAt.Store(-1)
	res = e.do(t, req{Method: "GET", Path: path, Token: tok})
	if res.Code != 200 || string(res.Body) != content {
		t.Errorf("download: status %d, %d bytes", res.Code, len(res.Body))
	}
}
