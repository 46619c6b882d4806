package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// UploadAttachment reads an attachment from r in chunks and stores it on the
// patient's chart. The content type is detected from the bytes and must be
// on the allow-list; a file larger than the configured limit is refused with
// KindTooLarge and nothing is stored. The upload is read chunk by chunk
// (memory is bounded by the size limit) and written in one transaction, so a
// failed upload leaves nothing behind.
func (s *Service) UploadAttachment(ctx context.Context, patientID, filename string, r io.Reader) (confidant.Attachment, error) {
	ctx = withEmergency(ctx)
	name, err := cleanFilename(filename)
	if err != nil {
		return confidant.Attachment{}, err
	}
	// Authorize before reading the body, so a refused request costs little.
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		_, _, err := s.authorizePatient(ctx, tx, patientID, policy.WriteAttachment)
		return err
	}); err != nil {
		return confidant.Attachment{}, err
	}
	var (
		chunks [][]byte
		size   int64
		sum    = sha256.New()
	)
	lr := io.LimitReader(r, s.cfg.MaxAttachment+1)
	for {
		buf := make([]byte, confidant.AttachmentChunkSize)
		n, err := io.ReadFull(lr, buf)
		if n > 0 {
			chunks = append(chunks, buf[:n])
			sum.Write(buf[:n])
			size += int64(n)
		}
		if size > s.cfg.MaxAttachment {
			return confidant.Attachment{}, confidant.Errorf(confidant.KindTooLarge, "attachment_too_large",
				"The file is larger than the limit of %d MiB.", s.cfg.MaxAttachment>>20)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return confidant.Attachment{}, confidant.Wrap(err, confidant.KindInvalid, "upload_failed", "The upload was interrupted.")
		}
	}
	if size == 0 {
		return confidant.Attachment{}, confidant.Errorf(confidant.KindInvalid, "empty_attachment", "The file is empty.")
	}
	ctype := http.DetectContentType(chunks[0])
	if !slices.Contains(s.cfg.AttachmentTypes, ctype) {
		return confidant.Attachment{}, confidant.Errorf(confidant.KindUnsupported, "attachment_type_not_allowed",
			"This kind of file cannot be attached. Allowed: PDF, PNG, JPEG and plain text.")
	}
	var att confidant.Attachment
	err = s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WriteAttachment)
		if err != nil {
			return err
		}
		att = confidant.Attachment{
			ID: confidant.NewID(), PatientID: p.ID, Filename: name, ContentType: ctype, Size: size,
			SHA256: sum.Sum(nil), Chunks: len(chunks), UploadedBy: a.UserID, CreatedAt: s.clock(),
		}
		for i, c := range chunks {
			if err := tx.PutAttachmentChunk(ctx, att.PatientID, att.ID, i, c); err != nil {
				return err
			}
		}
		if err := tx.CreateAttachment(ctx, att); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActAttachCreate, p.ID, att.ID)
	})
	if err := s.wrote(ctx, ActAttachCreate, patientID, "", err); err != nil {
		return confidant.Attachment{}, err
	}
	return att, nil
}

// OpenAttachment authorizes a download and returns the attachment's metadata
// and a reader that streams its content chunk by chunk.
func (s *Service) OpenAttachment(ctx context.Context, id string) (confidant.Attachment, io.Reader, error) {
	ctx = withEmergency(ctx)
	if err := checkID(id); err != nil {
		return confidant.Attachment{}, nil, err
	}
	var att confidant.Attachment
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		a, err := actor(ctx)
		if err != nil {
			return err
		}
		if !roleMayEver(a.Role, policy.ReadAttachment) {
			return confidant.ErrPermission
		}
		if att, err = tx.Attachment(ctx, id); err != nil {
			return sameNotFound(err)
		}
		_, _, err = s.authorizePatient(ctx, tx, att.PatientID, policy.ReadAttachment)
		return err
	})
	if err := s.done(ctx, ActAttachRead, att.PatientID, id, err); err != nil {
		return confidant.Attachment{}, nil, err
	}
	return att, &chunkReader{ctx: ctx, s: s, att: att}, nil
}

// chunkReader streams an attachment one stored chunk at a time.
type chunkReader struct {
	ctx  context.Context
	s    *Service
	att  confidant.Attachment
	next int
	buf  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.att.Chunks {
			return 0, io.EOF
		}
		err := r.s.store.View(r.ctx, func(tx confidant.Tx) error {
			var err error
			r.buf, err = tx.AttachmentChunk(r.ctx, r.att.PatientID, r.att.ID, r.next)
			return err
		})
		if err != nil {
			return 0, err
		}
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// cleanFilename keeps the base name of an uploaded file and refuses names
// that are not valid UTF-8, empty, too long, or contain control characters
// or bidirectional formatting characters (which can make "exe.pdf" show as
// something else: Trojan Source, CVE-2021-42574).
func cleanFilename(name string) (string, error) {
	bad := confidant.Errorf(confidant.KindInvalid, "invalid_filename", "The file name is not acceptable: use letters, digits, spaces, dots and dashes, at most 200 characters.")
	if !utf8.ValidString(name) {
		return "", bad
	}
	name = strings.ReplaceAll(name, "\\", "/")
	name = strings.TrimSpace(path.Base(name))
	if name == "" || name == "." || name == "/" || len(name) > 200 ||
		strings.ContainsFunc(name, unicode.IsControl) || strings.ContainsFunc(name, isBidiControl) || strings.ContainsAny(name, "\"<>") {
		return "", bad
	}
	return name, nil
}

// isBidiControl reports whether r is a bidirectional formatting character:
// the embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069,
// the marks U+200E, U+200F and the Arabic letter mark U+061C.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}
